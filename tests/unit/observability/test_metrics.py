"""``/metrics`` after a known sequence of requests: the real application, served by uvicorn
in this process, with a stand-in worker (each explanation costs 1 model call of 1 row; seed
13 fails with the code ``invalid_parameter``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.observability.metrics import Metrics
from explainer_service.settings import Settings
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP

PAYLOAD = json.loads((paths.PAYLOADS / "v2.json").read_text())
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str) -> Samples:
    response = HTTP.get(f"{base}/metrics", timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when it is absent (a labelled counter not moved yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def base(income_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = fake_app(tmp_path_factory.mktemp("metrics"))
    with served(app) as url:
        wait_for_worker(app)
        yield url


def explain(base: str, method: str, seed: int) -> httpx.Response:
    return HTTP.post(
        f"{base}/explain",
        params={"method": method, "seed": seed},
        json=PAYLOAD,
        timeout=60,
    )


def test_counts_follow_a_known_sequence_of_requests(base: str) -> None:
    before = scrape(base)
    assert value(before, "explainer_explanations_total", method="shap", status="done") == 0
    assert value(before, "explainer_workers") == 1

    assert explain(base, "shap", 1).status_code == 200  # computed
    assert explain(base, "shap", 2).status_code == 200  # computed
    assert explain(base, "shap", 1).status_code == 200  # the same again: from the store
    refused = explain(base, "no-such-method", 1)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_method"
    failed = explain(base, "shap", 13)  # computed, and the worker answers an error
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "invalid_parameter"

    after = scrape(base)
    assert value(after, "explainer_explanations_total", method="shap", status="done") == 2
    assert value(after, "explainer_explanations_total", method="shap", status="failed") == 1
    assert value(after, "explainer_store_lookups_total", result="miss") == 3
    assert value(after, "explainer_store_lookups_total", result="hit") == 1
    assert value(after, "explainer_store_lookups_total", result="joined") == 0
    assert value(after, "explainer_requests_refused_total", code="unknown_method") == 1
    # the stand-in's cost: 1 call of 1 row per explanation done
    assert value(after, "explainer_model_calls_total", method="shap") == 2
    assert value(after, "explainer_model_rows_total", method="shap") == 2
    assert value(after, "explainer_model_errors_total", code="invalid_parameter") == 0
    count = "explainer_explanation_duration_seconds_count"
    assert value(after, count, method="shap") == 2
    for stage in ("queue", "model", "engine"):
        stages = "explainer_explanation_stage_seconds_count"
        assert value(after, stages, method="shap", stage=stage) == 2, stage
    # nothing left running or waiting
    assert value(after, "explainer_explanations_in_flight") == 0
    assert value(after, "explainer_queue_depth") == 0
    assert value(after, "explainer_queue_saturated") == 0
    assert value(after, "explainer_queue_limit") == 32
    assert value(after, "explainer_workers_busy") == 0
    # every request is counted by its status class once the access log has logged it
    requests = "explainer_http_requests_total"

    def refused() -> float:
        return value(after, requests, status="4xx") - value(before, requests, status="4xx")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and refused() < 2:
        time.sleep(0.05)
        after = scrape(base)
    assert refused() == 2
    assert value(after, requests, status="2xx") - value(before, requests, status="2xx") >= 3
    assert value(after, requests, status="5xx") == 0


def test_metrics_are_open_when_tokens_are_required(income_files: Path) -> None:
    """Like the probes, ``/metrics`` needs no token (it holds counts, no payload)."""
    app = create_app(
        Settings(
            model={"url": "http://127.0.0.1:9/v2/models/m/infer"},
            data={"reference": paths.REFERENCE, "target": "loan"},
            features={"source": "reference"},  # no model to ask for its inputs
            service={"store": ":memory:"},
            auth={"tokens": ["a-token-of-sixteen-chars"]},
        )
    )

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get(path)

    assert asyncio.run(get("/explanations")).status_code == 401
    response = asyncio.run(get("/metrics"))
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"explainer_explanations", "explainer_queue_depth"} <= names


def test_model_errors_are_counted_by_code_and_others_are_not() -> None:
    metrics = Metrics()
    for code in ("model_timeout", "model_timeout", "model_unavailable", "budget_exceeded"):
        metrics.failed("anchors", code)
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = parse(text.decode())
    assert value(samples, "explainer_model_errors_total", code="model_timeout") == 2
    assert value(samples, "explainer_model_errors_total", code="model_unavailable") == 1
    assert value(samples, "explainer_model_errors_total", code="budget_exceeded") == 0
    assert value(samples, "explainer_explanations_total", method="anchors", status="failed") == 4


def test_a_scraper_asking_for_openmetrics_gets_it() -> None:
    text, content_type = Metrics().exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert text.endswith(b"# EOF\n")


def test_text_anchors_are_counted_by_how_they_do_on_the_reference_texts() -> None:
    import numpy as np
    import pandas as pd

    from explainers import BlackBox, FeatureSchema
    from explainers.text import get_text_explainer_class
    from tests.helpers.servers.keyword_model import proba

    box = BlackBox(
        lambda rows: np.array(proba([r[0] for r in rows])), class_names=["other", "flagged"]
    )
    metrics = Metrics()
    for patterns, params in [
        (["please refund the {}", "no refund needed {}"], {}),
        (["please refund the {}", "please no refund the {}"], {}),
        (["please refund the {}"], {"corpus_precision": False}),
    ]:
        reference = pd.DataFrame({"message": [p.format(i) for p in patterns for i in range(60)]})
        schema = FeatureSchema.infer(reference, text=["message"])
        explainer = get_text_explainer_class("anchors")(schema, reference, box, params)
        metrics.finished("anchors", explainer.explain(["please refund the parcel"]))
    samples = parse(metrics.exposition()[0].decode())
    assert value(samples, "explainer_text_anchor_corpus_checks_total", outcome="met") == 1
    assert value(samples, "explainer_text_anchor_corpus_checks_total", outcome="not_met") == 1
