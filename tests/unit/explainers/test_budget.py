"""Budgets: a call that would pass one never reaches the model, and the error comes out of
every engine; estimates bound what an explanation costs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import (
    BlackBox,
    Budget,
    BudgetExceededError,
    CountingModel,
    FeatureSchema,
    OutputKind,
    get_explainer_class,
)
from explainers.budget import CostEstimate, Tally
from tests.helpers.ground_truth import rule_classifier


@dataclass
class Recorder:
    """A predict function that keeps the size of every call it answered."""

    predict: Callable[[list[list[Any]]], np.ndarray]
    calls: list[int] = field(default_factory=list)

    def __call__(self, rows: list[list[Any]]) -> np.ndarray:
        self.calls.append(len(rows))
        return self.predict(rows)


def box(recorder: Recorder, usage: Any = None) -> BlackBox:
    return BlackBox(recorder, OutputKind.probabilities, paths.CLASS_NAMES, usage=usage)


def rows_of(reference: pd.DataFrame, start: int, n: int) -> np.ndarray:
    return reference[paths.FEATURES].iloc[start : start + n]


def test_a_call_that_would_pass_max_rows_never_reaches_the_model(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    recorder = Recorder(rule_classifier)
    counting = CountingModel(box(recorder), census_schema, Budget(max_rows=10))
    first = census_schema.to_numeric(rows_of(reference, 0, 6))
    counting.raw(first)
    with pytest.raises(BudgetExceededError) as info:
        counting.raw(census_schema.to_numeric(rows_of(reference, 6, 5)))
    assert (info.value.budget, info.value.limit, info.value.used) == ("max_rows", 10, 6)
    assert "max_rows" in info.value.message and "10" in info.value.message
    assert recorder.calls == [6]
    counting.raw(first)  # answered from memory: no request, so no budget spent
    assert recorder.calls == [6] and counting.cost().rows == 6


def test_max_model_calls_counts_the_requests_usage_reports(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """A predict function that sends chunks of 2 rows: its usage counts each chunk."""

    @dataclass
    class Stats:
        calls: int = 0
        rows: int = 0

    stats = Stats()

    def chunked(rows: list[list[Any]]) -> np.ndarray:
        stats.calls += -(-len(rows) // 2)
        stats.rows += len(rows)
        return rule_classifier(rows)

    recorder = Recorder(chunked)
    snapshot = lambda: Stats(stats.calls, stats.rows)  # noqa: E731
    counting = CountingModel(
        box(recorder, usage=snapshot), census_schema, Budget(max_model_calls=3)
    )
    counting.raw(census_schema.to_numeric(rows_of(reference, 0, 4)))  # 2 requests
    counting.raw(census_schema.to_numeric(rows_of(reference, 4, 4)))  # 2 more: 4
    with pytest.raises(BudgetExceededError) as info:
        counting.raw(census_schema.to_numeric(rows_of(reference, 8, 1)))
    assert (info.value.budget, info.value.limit, info.value.used) == ("max_model_calls", 3, 4)
    assert recorder.calls == [4, 4]


# method, configured parameters, per-call parameters, the budget, the engine's module that
# the error must come out of (it raises inside the engine's own code)
ENGINES = [
    ("anchors", {}, {}, Budget(max_rows=300), "explainers/anchors/search.py"),
    ("anchors", {}, {}, Budget(max_model_calls=3), "explainers/anchors/search.py"),
    # the instance and the background go first, in one call: the next is the engine's
    ("shap", {"nsamples": 200}, {}, Budget(max_rows=1000), "shap/explainers/_kernel.py"),
    ("shap", {"nsamples": 200}, {}, Budget(max_model_calls=2), "shap/explainers/_kernel.py"),
    # the defaults enumerate every coalition for this instance: the exact engine's call
    ("shap", {}, {}, Budget(max_model_calls=1), "explainers/shap/exact.py"),
    ("counterfactual", {}, {}, Budget(max_rows=30), "explainers/counterfactual/search.py"),
    ("counterfactual", {}, {}, Budget(max_model_calls=1), "explainers/counterfactual/search.py"),
    ("counterfactual", {"total": 1}, {}, Budget(max_rows=10), "counterfactual/search.py"),
    ("importance", {"rows": 200}, {}, Budget(max_rows=300), "eli5/"),
    ("importance", {"rows": 200}, {"iterations": 2}, Budget(max_model_calls=5), "eli5/"),
]


@pytest.mark.parametrize(("method", "configured", "params", "budget", "engine"), ENGINES)
def test_every_engine_lets_the_budget_error_through(
    census_schema: FeatureSchema,
    reference: pd.DataFrame,
    method: str,
    configured: dict[str, Any],
    params: dict[str, Any],
    budget: Budget,
    engine: str,
) -> None:
    recorder = Recorder(rule_classifier)
    cls = get_explainer_class(method)
    explainer = cls(census_schema, reference, box(recorder), configured, target="loan")
    instance = reference[paths.FEATURES].iloc[3].tolist()
    with pytest.raises(BudgetExceededError) as info:
        explainer.explain(instance, params, budget)
    assert any(engine in str(entry.path) for entry in info.traceback), "raised outside"
    error = info.value
    if budget.max_rows is not None:
        assert error.budget == "max_rows" and sum(recorder.calls) <= budget.max_rows
        assert error.used == sum(recorder.calls)
    else:
        assert error.budget == "max_model_calls" and len(recorder.calls) == budget.max_model_calls
    # without the budget, the same explanation costs more than the budget allowed
    cost = explainer.explain(instance, params).cost
    assert (cost.rows if error.budget == "max_rows" else cost.model_calls) > error.limit


def test_tally_counts_chunks_as_requests() -> None:
    tally = Tally(max_batch_rows=100).call(250).call(100, times=3).call(0, times=5)
    assert (tally.model_calls, tally.rows) == (3 + 3, 550)
    unbatched = Tally().call(250).call(1, times=4)
    assert (unbatched.model_calls, unbatched.rows) == (5, 254)


def test_an_estimate_over_the_budget_names_the_budget_and_what_drives_it() -> None:
    estimate = CostEstimate(model_calls=40, rows=90_000, drivers=("nsamples", "background_size"))
    Budget(max_model_calls=40, max_rows=90_000).check_estimate("shap", estimate)  # at the limit
    with pytest.raises(BudgetExceededError) as info:
        Budget(max_model_calls=100, max_rows=50_000).check_estimate("shap", estimate)
    error = info.value
    assert (error.budget, error.limit, error.used, error.estimated) == (
        "max_rows",
        50_000,
        90_000,
        True,
    )
    assert error.parameters == ["nsamples", "background_size"]
    assert "max_rows" in error.message and "lower nsamples, background_size" in error.message
    with pytest.raises(BudgetExceededError) as info:  # both passed: the one passed furthest
        Budget(max_model_calls=20, max_rows=80_000).check_estimate("shap", estimate)
    assert (info.value.budget, info.value.used) == ("max_model_calls", 40)
    assert Budget(max_model_calls=10).passed_by(estimate) == [("max_model_calls", 10, 40)]
    assert Budget().passed_by(estimate) == []


def test_methods_without_an_estimate_say_so(census_schema: FeatureSchema) -> None:
    cls = get_explainer_class("constant")  # the test plugin
    assert cls.estimate(cls.validate_params({}), census_schema, reference_rows=10) is None


def coin(agreement: float) -> Callable[[list[list[Any]]], np.ndarray]:
    """A model whose class is a fixed pseudo-random draw per row: the first class with
    probability ``agreement``. Near an anchor threshold, every rule stays undecided long."""

    def predict(rows: list[list[Any]]) -> np.ndarray:
        draws = [
            int(hashlib.sha256(repr(row).encode()).hexdigest()[:8], 16) / 2**32 for row in rows
        ]
        first = np.array(draws) < agreement
        return np.column_stack([first, ~first]).astype(float)

    return predict


# parameters that make the search go deep and sample long, for models that answer the
# instance's class about as often as the threshold asks
HARD_SEARCHES = [
    {
        "threshold": 0.9,
        "max_samples": 400,
        "batch_size": 50,
        "init_samples": 10,
        "max_anchor_size": 2,
    },
    {
        "threshold": 0.95,
        "max_samples": 300,
        "batch_size": 20,
        "init_samples": 5,
        "beam_size": 3,
        "max_anchor_size": 3,
    },
    {"threshold": 0.9, "beam_size": 1, "max_samples": 200, "batch_size": 10, "init_samples": 5},
]


@pytest.mark.parametrize("agreement", [0.5, 0.85, 0.9, 0.93])
@pytest.mark.parametrize("params", HARD_SEARCHES)
def test_the_anchor_bound_holds_for_searches_near_the_threshold(
    census_schema: FeatureSchema, reference: pd.DataFrame, agreement: float, params: dict
) -> None:
    cls = get_explainer_class("anchors")
    explainer = cls(census_schema, reference, box(Recorder(coin(agreement))))
    estimate = cls.estimate(
        cls.resolve_params({}, params), census_schema, reference_rows=len(reference)
    )
    for row in range(3):
        cost = explainer.explain(reference[paths.FEATURES].iloc[row].tolist(), params).cost
        assert cost.model_calls <= estimate.model_calls and cost.rows <= estimate.rows
