"""``explainer_model_call_duration_seconds``: one observation per HTTP request to the model,
whether a worker process made it for an explanation or the service's readiness check did.

A real service process calls the example model server, whose ``/stats`` counts the requests
it served; batches are split into chunks, sent one at a time (``concurrency: 1``), so the
requests of an explanation never overlap and their durations add up to at most its
``cost.model_seconds``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.income import paths
from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_cost import served
from tests.unit.observability.test_metrics import scrape, value

pytestmark = pytest.mark.integration

HISTOGRAM = "explainer_model_call_duration_seconds"


@pytest.fixture(scope="module")
def service(
    income_server: str, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[tuple[str, int]]:
    """The service's base URL, and the requests the model had served before it started."""
    directory = tmp_path_factory.mktemp("metrics")
    config = {
        "model": {
            "name": "income",
            "url": income_server + "/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "max_batch_rows": 40,
            "concurrency": 1,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "service": {"store": ":memory:", "ready_recheck_s": 3600, "ready_interval_s": 0.3},
        "explainers": {
            "shap": {"nsamples": 100, "background_size": 10, "exact": True},
            "importance": {"rows": 100, "iterations": 1},
        },
    }
    before, _ = served(income_server)
    process, base = explainer_service(config, directory, output_dir / "service-metrics.log")
    try:
        wait_until_ready(base)  # the readiness check is done; no other until 3600 s
        yield base, before
    finally:
        process.stop()


def test_each_request_to_the_model_is_observed_once(service, income_server: str) -> None:
    base, served_before_start = service
    before = scrape(base)
    payload = json.loads((paths.PAYLOADS / "v2.json").read_text())
    costs: dict[str, list[dict]] = {"shap": [], "importance": []}
    for method, seed in [("shap", 1), ("shap", 2), ("importance", 1), ("shap", 1)]:
        response = HTTP.post(
            f"{base}/explain", params={"method": method, "seed": seed}, json=payload, timeout=300
        )
        assert response.status_code == 200, response.text
        costs[method].append(response.json()["cost"])
    costs["shap"].pop()  # the same again: answered from the store, no request to the model
    after = scrape(base)

    for method, spent in costs.items():
        count = value(after, f"{HISTOGRAM}_count", method=method)
        count -= value(before, f"{HISTOGRAM}_count", method=method)
        assert count == sum(c["model_calls"] for c in spent) > len(spent), method
        seconds = value(after, f"{HISTOGRAM}_sum", method=method)
        seconds -= value(before, f"{HISTOGRAM}_sum", method=method)
        # model_seconds is rounded to the microsecond
        assert 0 < seconds <= sum(c["model_seconds"] for c in spent) + 1e-6 * count, method

    # every request the model served since the service started, and no other, is counted:
    # the readiness check's too (the workers fitted their explainers without any)
    readiness = value(after, f"{HISTOGRAM}_count", method="readiness")
    assert readiness >= 1
    total = readiness + sum(value(after, f"{HISTOGRAM}_count", method=m) for m in costs)
    assert total == served(income_server)[0] - served_before_start
