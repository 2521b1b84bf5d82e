"""The caller's request id and W3C ``traceparent`` reach the model on every call an
explanation makes, across the worker process; nothing else of the caller's does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, start_service

pytestmark = pytest.mark.integration

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_model_sees_the_callers_request_id_and_traceparent(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    process, base = start_service(gate, tmp_path, output_dir / "service-trace.log", workers=1)
    try:
        before = len(gate.calls())
        response = httpx.post(
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

        malformed = httpx.post(
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
