"""The inference log's sink as the loggers meet it: a real service process (access control
on, loggers let in by the sink's secret path) beside the example model server, sent real
CloudEvents built with the ``cloudevents`` SDK over HTTP, as KServe's agent and Seldon's
executor send them; each stored or refused as specified (read back from the service's
SQLite file) and counted in ``/metrics``. And the ``replay`` command into a store."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from cloudevents.core.bindings.http import HTTPMessage
from prometheus_client.parser import text_string_to_metric_families

from examples.income import paths
from explainer_service.model_client.codecs.base import native
from explainer_service.store import Store, open_store
from tests.helpers.logger_events import (
    kserve_event,
    message,
    seldon_event,
    v2_request,
)
from tests.helpers.support import explainer_service
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

SECRET = "sink-path-secret-0123456789"
TOKEN = "a-token-for-people-0123456789"
SCRIPT = Path(sys.executable).parent / "explainer-service"


@pytest.fixture(scope="module")
def rows(income_files: Path) -> list[list[Any]]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].head(8)
    return [[native(v) for v in row] for row in frame.itertuples(index=False)]


def config_of(income_server: str, store: Path, **log: Any) -> dict[str, Any]:
    return {
        "model": {
            "name": "income",
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"names": paths.FEATURES},
        "service": {"store": str(store), "workers": 1},
        # the sink needs no explainer: the cheapest one to fit
        "explainers": {"shap": {"nsamples": 50, "background_size": 10}},
        "inference_log": log,
    }


class Sink:
    """The service under test: its URL, its store (opened as a second process would) and
    the model server, to get the answers that the loggers log."""

    def __init__(self, base: str, store: Store, model: str, log: Path) -> None:
        self.base, self.store, self.model, self.log = base, store, model, log

    def post(self, sent: HTTPMessage, path: str = f"/inferences/{SECRET}") -> httpx.Response:
        return HTTP.post(self.base + path, content=sent.body, headers=sent.headers, timeout=60)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the model answers ``body`` (what the logger logs as the response)."""
        answered = HTTP.post(f"{self.model}/v2/models/income/infer", json=body, timeout=60)
        return answered.raise_for_status().json()

    def metrics(self) -> dict[tuple[str, str, str, str], float]:
        text = HTTP.get(f"{self.base}/metrics", timeout=60).raise_for_status().text
        return {
            (s.name, s.labels["source"], s.labels["type"], s.labels["outcome"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name in ("explainer_inference_events_total", "explainer_inference_rows_total")
        }


@pytest.fixture(scope="module")
def sink(
    income_server: str, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[Sink]:
    directory = tmp_path_factory.mktemp("sink")
    store_path = directory / "log.sqlite"
    config = config_of(income_server, store_path, sink_secret=SECRET, metadata=["X-Tenant"])
    config["auth"] = {"tokens": [TOKEN]}
    log = output_dir / "service-inference-sink.log"
    process, base = explainer_service(config, directory, log, log_level="info")
    store = open_store(str(store_path))
    try:
        yield Sink(base, store, income_server, log)
    finally:
        store.close()
        process.stop()


class Counted:
    """The change of the sink's counters between entering and leaving the block."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.before: dict[tuple[str, str, str, str], float] = {}
        self.changes: dict[tuple[str, str, str, str], float] = {}

    def __enter__(self) -> Counted:
        self.before = self.sink.metrics()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.sink.metrics()
        self.changes = {
            key: value - self.before.get(key, 0.0)
            for key, value in after.items()
            if value != self.before.get(key, 0.0)
        }

    def events(self, source: str, type: str, outcome: str) -> float:
        return self.changes.get(("explainer_inference_events_total", source, type, outcome), 0)

    def rows(self, source: str, type: str, outcome: str) -> float:
        return self.changes.get(("explainer_inference_rows_total", source, type, outcome), 0)


def outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_kserve_request_then_response_and_response_then_request(
    sink: Sink, rows: list[list[Any]], mode: str
) -> None:
    metadata = {"X-Tenant": ["bank-a"], "Cookie": ["session=1"]}
    first, second = f"ks-{mode}-1", f"ks-{mode}-2"
    request = v2_request(rows[:1])
    answer = sink.answer(request)
    with Counted(sink) as counted:
        sent = kserve_event("request", request, first, metadata=metadata)
        assert outcome(sink.post(message(sent, mode))) == "stored"
        assert (
            outcome(sink.post(message(kserve_event("response", answer, first), mode))) == "joined"
        )
        assert (
            outcome(sink.post(message(kserve_event("response", answer, second), mode))) == "stored"
        )
        assert (
            outcome(sink.post(message(kserve_event("request", request, second), mode))) == "joined"
        )
    for id in (first, second):
        logged = sink.store.inference(id)
        assert logged is not None and logged.complete
        assert logged.instance == rows[0]
        scores = answer["outputs"][0]["data"]
        assert logged.answer == {"scores": scores}
        assert logged.label == paths.CLASS_NAMES[scores.index(max(scores))]
        assert (logged.source, logged.model, logged.endpoint) == ("kserve", "income", "default")
    assert sink.store.inference(first).metadata == {"X-Tenant": ["bank-a"]}
    assert counted.events("kserve", "request", "stored") == 1
    assert counted.events("kserve", "response", "joined") == 1
    assert counted.events("kserve", "response", "stored") == 1
    assert counted.rows("kserve", "request", "joined") == 1


def test_a_logged_five_row_event_is_read_back_by_id_with_a_token(
    sink: Sink, rows: list[list[Any]]
) -> None:
    """What the sink kept is what ``GET /inferences/{id}`` answers (ids with a slash)."""
    five = v2_request(rows[:5])
    assert outcome(sink.post(message(kserve_event("request", five, "read")))) == "stored"
    assert outcome(sink.post(message(kserve_event("response", sink.answer(five), "read")))) == (
        "joined"
    )
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    read = HTTP.get(f"{sink.base}/inferences/read/3", headers=bearer, timeout=60)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["instance"] == dict(zip(paths.FEATURES, rows[3], strict=True))
    assert (body["source"], body["row_index"], body["row_count"]) == ("kserve", 3, 5)
    assert body["label"] in paths.CLASS_NAMES and body["answer"]["scores"]
    assert HTTP.get(f"{sink.base}/inferences/read/3", timeout=60).status_code == 401


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_seldon_sides_join_by_request_id_and_feedback_is_dropped(
    sink: Sink, rows: list[list[Any]], mode: str
) -> None:
    request = v2_request(rows[1:2])
    answer = sink.answer(request)
    puid = f"puid-{mode}"

    def seldon(side: str, data: Any) -> HTTPMessage:
        return message(seldon_event(side, data, puid, protocol="v2"), mode)

    with Counted(sink) as counted:
        assert outcome(sink.post(seldon("response", answer))) == "stored"
        assert outcome(sink.post(seldon("request", request))) == "joined"
        assert outcome(sink.post(seldon("feedback", {"reward": 1.0}))) == "dropped_feedback"
    logged = sink.store.inference(puid)
    assert logged is not None and logged.complete and logged.source == "seldon"
    assert logged.instance == rows[1] and logged.protocol == "v2"
    assert counted.events("seldon", "response", "stored") == 1
    assert counted.events("seldon", "feedback", "dropped_feedback") == 1


def test_one_side_a_duplicate_gzip_without_its_header_and_five_rows(
    sink: Sink, rows: list[list[Any]]
) -> None:
    five = v2_request(rows[:5])
    with Counted(sink) as counted:
        assert outcome(sink.post(message(kserve_event("request", five, "only")))) == "stored"
        twice = message(kserve_event("request", v2_request(rows[5:6]), "twice"))
        assert outcome(sink.post(twice)) == "stored"
        assert outcome(sink.post(twice)) == "duplicate"
        gzipped = message(kserve_event("request", v2_request(rows[6:7]), "gz"), gzipped=True)
        assert "content-encoding" not in {k.lower() for k in gzipped.headers}
        assert outcome(sink.post(gzipped)) == "stored"
        batch = sink.post(message(kserve_event("response", sink.answer(five), "only")))
        assert batch.json()["inferences"] == [f"only/{i}" for i in range(5)]
    for i in range(5):
        logged = sink.store.inference(f"only/{i}")
        assert logged is not None and logged.complete and logged.instance == rows[i]
        assert (logged.row_index, logged.row_count) == (i, 5)
    for id, row in (("twice", rows[5]), ("gz", rows[6])):  # a request only: kept as it is
        logged = sink.store.inference(id)
        assert logged.instance == row and logged.answer is None and not logged.complete
    assert counted.events("kserve", "request", "duplicate") == 1
    assert counted.rows("kserve", "request", "stored") == 5 + 1 + 1
    assert counted.rows("kserve", "response", "joined") == 5


def test_the_explainers_events_other_models_and_malformed_events_are_not_kept(
    sink: Sink, rows: list[list[Any]]
) -> None:
    body = v2_request(rows[:1])
    explainer = message(kserve_event("request", body, "from-explainer", component="explainer"))
    other = message(kserve_event("request", body, "other-model", model="fraud"))
    good = message(kserve_event("request", body, "bad"))
    no_id = HTTPMessage({k: v for k, v in good.headers.items() if k != "ce-id"}, good.body)
    unknown = HTTPMessage({**good.headers, "ce-type": "com.example.event"}, good.body)
    unnamed = HTTPMessage(
        {k: v for k, v in good.headers.items() if k != "ce-inferenceservicename"}, good.body
    )
    not_v2 = HTTPMessage(good.headers, json.dumps({"instances": [rows[0]]}).encode())
    with Counted(sink) as counted:
        assert outcome(sink.post(explainer)) == "dropped_component"
        assert outcome(sink.post(other)) == "dropped_model"
        for sent, status, field in [
            (no_id, 400, "id"),
            (unknown, 400, "type"),
            (unnamed, 400, "inferenceservicename"),
            (not_v2, 422, "inputs"),
        ]:
            refused = sink.post(sent)
            assert refused.status_code == status, refused.text
            assert refused.json()["error"]["detail"]["field"] == field
    for id in ("from-explainer", "other-model", "bad"):
        assert sink.store.inference(id) is None
    assert counted.events("kserve", "request", "dropped_component") == 1
    assert counted.events("kserve", "request", "dropped_model") == 1
    assert counted.events("unknown", "unknown", "refused") == 3
    assert counted.events("kserve", "request", "refused") == 1


def test_only_the_secret_path_lets_a_logger_in_and_the_secret_is_never_logged(
    sink: Sink, rows: list[list[Any]]
) -> None:
    sent = message(kserve_event("request", v2_request(rows[:1]), "auth"))
    plain = sink.post(sent, "/inferences")
    assert plain.status_code == 401 and plain.headers["www-authenticate"] == "Bearer"
    assert sink.post(sent, f"/inferences/{SECRET}x").status_code == 401
    bearer = {**sent.headers, "Authorization": f"Bearer {TOKEN}"}
    wrong = HTTP.post(f"{sink.base}/inferences/not-the-secret", content=sent.body, headers=bearer)
    assert wrong.status_code == 404
    assert sink.store.inference("auth") is None
    assert outcome(sink.post(sent)) == "stored"
    text = sink.log.read_text()
    assert "POST /inferences/{secret} 200" in text
    assert SECRET not in text and "not-the-secret" not in text


def test_beyond_its_rate_the_sink_answers_429_with_retry_after(
    income_server: str, tmp_path: Path, output_dir: Path, rows: list[list[Any]]
) -> None:
    config = config_of(income_server, tmp_path / "rate.sqlite", max_events_per_s=0.01)
    process, base = explainer_service(config, tmp_path, output_dir / "service-sink-rate.log")
    try:
        answers = [
            HTTP.post(f"{base}/inferences", content=sent.body, headers=sent.headers, timeout=60)
            for sent in (
                message(kserve_event("request", v2_request(rows[:1]), f"r{i}")) for i in range(3)
            )
        ]
        assert [a.status_code for a in answers] == [200, 429, 429]
        assert int(answers[1].headers["retry-after"]) >= 1
        assert answers[1].json()["error"]["code"] == "rate_limited"
    finally:
        process.stop()


def test_replay_loads_a_file_of_events_into_the_configured_store(
    income_server: str, tmp_path: Path, rows: list[list[Any]]
) -> None:
    store_path = tmp_path / "replayed.sqlite"
    config = tmp_path / "explainer.yaml"
    config.write_text(yaml.safe_dump(config_of(income_server, store_path)))
    request = v2_request(rows[:2])
    answer = HTTP.post(f"{income_server}/v2/models/income/infer", json=request, timeout=60).json()
    lines = [
        message(kserve_event("request", request, "rp"), "structured").body.decode(),
        message(kserve_event("response", answer, "rp"), "structured").body.decode(),
        message(kserve_event("request", request, "rp"), "structured").body.decode(),
        message(kserve_event("request", request, "x", model="other"), "structured").body.decode(),
        "{not json",
        json.dumps([blob_record(request, "blob")]),  # KServe's blob-storage logger's
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [str(SCRIPT), "replay", str(log), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # one line was refused
    assert done.stdout.strip() == (
        "6 events: 1 dropped_model, 1 duplicate, 1 joined, 1 refused, 2 stored"
    )
    assert "line 5" in done.stderr
    store = open_store(str(store_path))
    try:
        assert [store.inference(f"rp/{i}").complete for i in range(2)] == [True, True]
        assert store.inference("rp/1").instance == rows[1]
        blob = store.inference("blob/0")
        assert blob.instance == rows[0] and blob.requested_at.startswith("2026-12-01T10:00:00")
        assert store.count_inferences() == 4
    finally:
        store.close()


def blob_record(body: dict[str, Any], id: str) -> dict[str, Any]:
    """A record of KServe's blob-storage logger (``pkg/logger``'s ``LogRequest`` as its JSON
    marshaller writes it: the body base64-encoded)."""
    return {
        "url": "s3://logs/income",
        "bytes": base64.b64encode(json.dumps(body).encode()).decode(),
        "contentType": "application/json",
        "reqType": "org.kubeflow.serving.inference.request",
        "id": id,
        "sourceUri": "http://localhost:9081/",
        "inferenceService": "income",
        "namespace": "default",
        "component": "predictor",
        "endpoint": "default",
        "metadata": {},
        "occurrenceTime": "2026-12-01T10:00:00Z",
    }
