"""The caller's request id and W3C ``traceparent`` reach the model on every call an
explanation makes, across the worker process; nothing else of the caller's does. JSON logs
from a real process: every line an object, one per request and one per explanation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, config, start_service

pytestmark = pytest.mark.integration

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_model_sees_the_callers_request_id_and_traceparent(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    process, base = start_service(gate, tmp_path, output_dir / "service-trace.log", workers=1)
    try:
        before = len(gate.calls())
        response = HTTP.post(
            f"{base}/explain?method=shap&seed=11",
            json=APPLICANT,
            headers={
                "X-Request-ID": "audit-2026-0042",
                "traceparent": TRACEPARENT,
                "X-Secret-Of-The-Caller": "not for the model",
            },
            timeout=LIMIT_S,
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == "audit-2026-0042"
        calls = gate.calls()[before:]
        explanation_calls = response.json()["cost"]["model_calls"]
        assert len(calls) == explanation_calls >= 2
        assert {c["request_id"] for c in calls} == {"audit-2026-0042"}
        assert {c["traceparent"] for c in calls} == {TRACEPARENT}

        malformed = HTTP.post(
            f"{base}/explain?method=shap&seed=12",
            json=APPLICANT,
            headers={"traceparent": "not-a-trace"},
            timeout=LIMIT_S,
        )
        assert malformed.status_code == 200, malformed.text
        generated = malformed.headers["X-Request-ID"]
        later = gate.calls()[before + len(calls) :]
        assert later and {c["request_id"] for c in later} == {generated}
        assert {c["traceparent"] for c in later} == {None}  # a malformed one is not forwarded
    finally:
        process.stop()


def test_json_logs_are_one_object_per_line_from_the_service_and_its_workers(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    log = output_dir / "service-json-logs.log"
    process, base = explainer_service(
        config(gate.url, tmp_path / "store.sqlite", workers=1),
        tmp_path,
        log,
        env={"EXPLAINER_LOG_FORMAT": "json"},
        log_level="info",
    )
    try:
        wait_until_ready(base, timeout=LIMIT_S)
        response = HTTP.post(
            f"{base}/explain?method=shap&seed=21",
            json=APPLICANT,
            headers={"X-Request-ID": "json-logs-1"},
            timeout=LIMIT_S,
        )
        assert response.status_code == 200, response.text
        bad = HTTP.post(f"{base}/explain?method=nonsense", json=APPLICANT, timeout=LIMIT_S)
        assert bad.status_code == 422
    finally:
        process.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, uvicorn's too
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    explained = [e for e in entries if e.get("event") == "explanation"]
    assert [(e["request_id"], e["status"], e["method"]) for e in explained] == [
        ("json-logs-1", "done", "shap")
    ]
    assert explained[0]["model_calls"] == response.json()["cost"]["model_calls"]
    requests = [
        (e["method"], e["path"], e["status"]) for e in entries if e.get("event") == "request"
    ]
    assert ("POST", "/explain", 200) in requests and ("POST", "/explain", 422) in requests
    assert not any("exception" in e or "Traceback" in e["message"] for e in entries)
