"""Each method's estimate is at least what it costs, as the model server counts it.

Held-out applicants are explained through the example model server (a real process) with
the example's parameters and a few others, once with the example's ``max_batch_rows`` and
once with batches small enough to be split; every explanation's cost must equal what the
server counted and stay within the estimate. The table of estimates against the largest and
median costs is written to ``test-output/estimates.md``. ``ESTIMATE_APPLICANTS`` sets how many
applicants (default 2).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

APPLICANTS = int(os.environ.get("ESTIMATE_APPLICANTS", "2"))

# (max_batch_rows, method, per-call parameters); {} is the example's configuration
CASES: list[tuple[int, str, dict[str, Any]]] = [
    (2000, "anchors", {}),
    (2000, "shap", {}),
    (2000, "counterfactual", {}),
    (2000, "importance", {}),
    (250, "anchors", {}),
    (250, "anchors", {"threshold": 0.9, "max_samples": 500}),
    (250, "anchors", {"beam_size": 4, "max_anchor_size": 3, "batch_size": 300}),
    (250, "shap", {"nsamples": 2000}),
    (250, "counterfactual", {"values_per_feature": 20, "max_features": 2}),
    (250, "counterfactual", {"total": 5, "beam_width": 8}),
    (250, "importance", {"rows": 400, "iterations": 2}),
]


@pytest.fixture(scope="module")
def runtimes(income_server: str) -> Iterator[dict[int, FittedRuntime]]:
    built = {}
    for batch in sorted({case[0] for case in CASES}):
        settings = load_settings(paths.HERE / "explainer.yaml")
        settings.model.url = f"{income_server}/v2/models/income/infer"  # type: ignore[assignment]
        settings.model.max_batch_rows = batch
        built[batch] = FittedRuntime(settings)
        built[batch].fit()
    yield built
    for runtime in built.values():
        runtime.close()


def served(base: str) -> tuple[int, int]:
    stats = HTTP.get(base + "/stats", timeout=30).json()
    return stats["requests"], stats["rows"]


def test_estimates_bound_what_explanations_cost(
    runtimes: dict[int, FittedRuntime], income_server: str, output_dir: Path
) -> None:
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    lines = [
        f"Estimates against costs counted by the model server, {APPLICANTS} held-out "
        "applicants (one run for importance, a global method).",
        "",
        "| batch rows | method | parameters | estimate calls | estimate rows | bound "
        "| max calls | max rows | median calls | median rows | max rows / estimate |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    over = []
    for batch, method, overrides in CASES:
        runtime = runtimes[batch]
        estimate = runtime.estimate(method, runtime.resolve_params(method, overrides))
        assert estimate is not None
        explainer = runtime.explainer(method)
        costs = []
        for i in range(APPLICANTS if explainer.local else 1):
            before = served(income_server)
            cost = explainer.explain(holdout.iloc[i].tolist(), overrides).cost
            after = served(income_server)
            assert (cost.model_calls, cost.rows) == (after[0] - before[0], after[1] - before[1])
            costs.append(cost)
            if cost.model_calls > estimate.model_calls or cost.rows > estimate.rows:
                over.append((batch, method, overrides, i, cost, estimate))
        calls = [c.model_calls for c in costs]
        rows = [c.rows for c in costs]
        lines.append(
            f"| {batch} | {method} | {overrides or 'example'} | {estimate.model_calls} "
            f"| {estimate.rows} | {'upper' if estimate.upper_bound else 'allowance'} "
            f"| {max(calls)} | {max(rows)} | {statistics.median(calls):g} "
            f"| {statistics.median(rows):g} | {max(rows) / estimate.rows:.3f} |"
        )
    (output_dir / "estimates.md").write_text("\n".join(lines) + "\n")
    assert over == []
