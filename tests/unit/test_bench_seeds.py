"""``tests.helpers.bench_seeds``: our anchors of a bench run under more seeds, summarised."""

from __future__ import annotations

import pytest

from tests.helpers.bench_seeds import seeds, summarise


def test_seeds_are_a_range_or_a_list() -> None:
    assert seeds("0-4") == [0, 1, 2, 3, 4]
    assert seeds("5") == [5]
    assert seeds("0,2,7") == [0, 2, 7]


def test_a_rule_on_few_rows_is_below_but_not_shown_below() -> None:
    outcomes = [
        {"precision": 13 / 14, "rows": 14, "sent": 4000, "length": 8},  # interval reaches 0.996
        {"precision": 0.90, "rows": 1000, "sent": 1000, "length": 1},  # shown below
        {"precision": 1.0, "rows": 50, "sent": 3000, "length": 3},
    ]
    summary = summarise(outcomes, 0.95)
    assert summary["anchors"] == 3
    assert summary["below_threshold"] == 2
    assert summary["shown_below_threshold"] == 1
    assert summary["min_precision"] == pytest.approx(0.90)
    assert summary["rows_sent_median"] == 3000
    assert summary["length_mean"] == 4
