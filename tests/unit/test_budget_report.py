"""tests/helpers/budget.py: the budget table is written once, from every worker's costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.support import ROOT

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path
from tests.helpers.budget import BudgetReport

def pytest_configure(config):
    config.pluginmanager.register(BudgetReport(Path("{path}")), "budget-under-test")
"""

TESTS = """
from types import SimpleNamespace

from explainers.explanation import Cost
from tests.helpers import budget


def test_{method}(record_property):
    explanations = [
        SimpleNamespace(cost=Cost(model_calls=2, rows=40, seconds=s, model_seconds=s / 2))
        for s in (1.0, 3.0, 8.0)
    ]
    budget.record(record_property, "{method}", explanations)
"""


def test_the_table_has_the_rows_of_every_xdist_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the subprocess imports tests.helpers
    table = pytester.path / "out" / "budget.md"
    pytester.makeconftest(CONFTEST.format(path=table))
    for method in ("shap", "anchors"):
        pytester.makepyfile(**{f"test_{method}": TESTS.format(method=method)})
    pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert table.read_text().splitlines()[2:] == [
        "| anchors | 3 | 3.00 | 8.00 | 1.50 | 2 | 40 |",
        "| shap | 3 | 3.00 | 8.00 | 1.50 | 2 | 40 |",
    ]


def test_nothing_recorded_writes_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the subprocess imports tests.helpers
    table = pytester.path / "budget.md"
    pytester.makeconftest(CONFTEST.format(path=table))
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not Path(table).exists()
