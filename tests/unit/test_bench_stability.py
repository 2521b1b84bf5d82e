"""``bench.stability``: which applicants' anchors change with the seed."""

from __future__ import annotations

from bench.clients import Outcome
from bench.stability import rule_of, summarise


def test_an_applicant_changes_when_its_seeds_disagree_and_failures_are_left_out() -> None:
    by_seed = {
        0: [["a > 1"], ["b = x"], None, ["c <= 2"]],
        1: [["a > 1"], ["b = x", "c <= 2"], None, None],
        2: [["a > 1"], ["b = x"], ["d > 0"], None],
    }
    summary = summarise(by_seed)
    # applicant 2 answered once and applicant 3 once: nothing to compare
    assert summary == {
        "seeds": [0, 1, 2],
        "applicants": 2,
        "changed": 1,
        "share_changed": 0.5,
        "distinct_rules_max": 2,
    }


def test_rules_are_read_from_both_forms_in_any_order() -> None:
    ours = Outcome(1.0, 200, {"result": {"rule": ["b = x", "a > 1"]}}, None)
    theirs = Outcome(1.0, 200, {"data": {"anchor": ["a > 1.00", "b = x"]}}, None)
    failed = Outcome(1.0, 500, None, "boom")
    assert rule_of(ours, "ours") == ["a > 1", "b = x"]
    assert rule_of(theirs, "mlserver") == ["a > 1.00", "b = x"]
    assert rule_of(failed, "ours") is None
    assert rule_of(Outcome(1.0, 200, {"result": {}}, None), "ours") is None
