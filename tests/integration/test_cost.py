"""An explanation's cost is what the model server received: every chunk, every request.

The service (a real ``explainer-service serve`` process) calls the example model server with
``max_batch_rows`` small enough that batches are split; the server's ``/stats`` counts the
requests and rows it served.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from examples.income import paths
from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

BATCH = 40
BACKGROUND = 10


def served(model_base: str) -> tuple[int, int]:
    stats = HTTP.get(model_base + "/stats").json()
    return stats["requests"], stats["rows"]


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("cost")
    config = {
        "model": {
            "name": "income",
            "url": income_server + "/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "max_batch_rows": BATCH,
            "concurrency": 2,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "service": {"store": ":memory:", "ready_recheck_s": 3600, "ready_interval_s": 0.3},
        "explainers": {
            # every coalition in one call (sampling would make one call per replicate)
            "shap": {"nsamples": 100, "background_size": BACKGROUND, "exact": True},
            "importance": {"rows": 100, "iterations": 1},
        },
    }
    process, base = explainer_service(config, directory, output_dir / "service-cost.log")
    try:
        wait_until_ready(base)  # the readiness check is done; no other call until 3600 s
        yield base
    finally:
        process.stop()


def payload() -> dict:
    return json.loads((paths.PAYLOADS / "v2.json").read_text())


def test_split_batches_count_one_call_per_chunk(service: str, income_server: str) -> None:
    before = served(income_server)
    response = HTTP.post(f"{service}/explain?method=shap", json=payload(), timeout=120)
    assert response.status_code == 200, response.text
    cost = response.json()["cost"]
    after = served(income_server)
    assert (cost["model_calls"], cost["rows"]) == (after[0] - before[0], after[1] - before[1])
    # shap asks twice: the instance with the background (one call), then every coalition
    # at once (exact: true); that last batch went in chunks of at most BATCH rows
    coalitions = cost["rows"] - 1 - BACKGROUND
    assert coalitions > BATCH
    assert cost["model_calls"] == 1 + math.ceil(coalitions / BATCH)


def test_explanations_at_the_same_time_each_count_their_own_calls(
    service: str, income_server: str
) -> None:
    """Three explanations requested at once: together they cost what the server served.

    (Within one process the explainers' seeded sections run one at a time, so their calls
    do not overlap here; tests/unit/model_client/test_client.py has threads whose calls do.)"""
    before = served(income_server)
    requests = [("shap", "&seed=5"), ("importance", ""), ("shap", "&seed=6&instance=1")]

    def explain(method: str, extra: str) -> dict:
        url = f"{service}/explain?method={method}{extra}"
        response = HTTP.post(url, json=payload(), timeout=300)
        assert response.status_code == 200, response.text
        return response.json()["cost"]

    with ThreadPoolExecutor(len(requests)) as pool:
        costs = list(pool.map(lambda r: explain(*r), requests))
    after = served(income_server)
    assert sum(c["model_calls"] for c in costs) == after[0] - before[0]
    assert sum(c["rows"] for c in costs) == after[1] - before[1]
    for cost in (costs[0], costs[2]):
        assert cost["model_calls"] == 1 + math.ceil((cost["rows"] - 1 - BACKGROUND) / BATCH)
