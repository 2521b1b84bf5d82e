"""The explanation budget table (test-output/explanation-budget.md), written at the end of
the session from the costs that tests record with ``record``.

The costs travel in the tests' reports (``user_properties``), so the table is written once
by the process that sees every report: the only process, or pytest-xdist's controller.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from explainers import Explanation

KEY = "explanation-budget"


def record(
    record_property: Callable[[str, object], None],
    method: str,
    explanations: Sequence[Explanation],
) -> None:
    """Add the costs of ``explanations`` by ``method`` to the test's report, through pytest's
    ``record_property`` fixture."""
    record_property(KEY, [method, [e.cost.model_dump() for e in explanations]])


def table(costs: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown: per method, how many explanations, their seconds, model calls and rows."""
    lines = [
        "| method | explanations | median s | max s | median s waiting for the model "
        "| median model calls | median rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, each in costs.items():
        seconds = [c["seconds"] for c in each]
        lines.append(
            f"| {method} | {len(each)} | {statistics.median(seconds):.2f} | {max(seconds):.2f} | "
            f"{statistics.median(c['model_seconds'] for c in each):.2f} | "
            f"{statistics.median(c['model_calls'] for c in each):.0f} | "
            f"{statistics.median(c['rows'] for c in each):.0f} |"
        )
    return "\n".join(lines) + "\n"


class BudgetReport:
    """A pytest plugin that gathers the recorded costs and writes the table to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.costs: dict[str, list[dict[str, Any]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == KEY:
                method, costs = value  # type: ignore[misc]
                self.costs[method] = costs

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.costs and not hasattr(session.config, "workerinput"):
            self.path.parent.mkdir(exist_ok=True)
            self.path.write_text(table(dict(sorted(self.costs.items()))))
