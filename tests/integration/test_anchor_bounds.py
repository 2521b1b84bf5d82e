"""``max_anchor_size`` and the call budget bound the whole anchor search, refinement included,
counted at the model server.

The income example's model server (a real process) answers every call; its ``/stats`` counts
the requests and rows it served. Held-out applicants are explained with small limits.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from explainers import Budget, BudgetExceededError
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

APPLICANTS = 6


@pytest.fixture(scope="module")
def runtime(income_server: str) -> Iterator[FittedRuntime]:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"{income_server}/v2/models/income/infer"  # type: ignore[assignment]
    built = FittedRuntime(settings)
    built.fit()
    yield built
    built.close()


@pytest.fixture(scope="module")
def applicants() -> list[list]:
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    return holdout.head(APPLICANTS).values.tolist()


def served(base: str) -> tuple[int, int]:
    stats = HTTP.get(base + "/stats", timeout=30).json()
    return stats["requests"], stats["rows"]


@pytest.mark.parametrize("limit", [1, 2])
def test_max_anchor_size_bounds_the_rule(
    runtime: FittedRuntime, applicants: list[list], income_server: str, limit: int
) -> None:
    explainer = runtime.explainer("anchors")
    for row in applicants:
        before = served(income_server)
        explanation = explainer.explain(row, {"max_anchor_size": limit})
        after = served(income_server)
        cost = explanation.cost
        assert (cost.model_calls, cost.rows) == (after[0] - before[0], after[1] - before[1])
        assert len(explanation.result.conditions) <= limit, explanation.result.rule


@pytest.mark.parametrize("calls, rows", [(4, None), (10, None), (None, 3000)])
def test_the_budget_is_never_passed_at_the_model(
    runtime: FittedRuntime,
    applicants: list[list],
    income_server: str,
    calls: int | None,
    rows: int | None,
) -> None:
    explainer = runtime.explainer("anchors")
    budget = Budget(max_model_calls=calls, max_rows=rows)
    stopped = 0
    for row in applicants:
        before = served(income_server)
        try:
            explainer.explain(row, budget=budget)
        except BudgetExceededError:
            stopped += 1
        after = served(income_server)
        assert calls is None or after[0] - before[0] <= calls
        assert rows is None or after[1] - before[1] <= rows
    assert stopped  # the limits are small enough to stop some searches
