"""``POST /inferences`` in process (no lifespan: nothing calls the model): who gets in with
access control on, the secret kept out of the log, the sink switched off, the rate limit
and the size limits, each answered with its JSON error."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.settings import Settings
from tests.helpers.logger_events import kserve_event, message, v2_request

SECRET = "s3cret-path-0123456789"
TOKEN = "a-token-of-enough-length"
ROW = [39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical", "Not-in-family",
       "White", "Male", 2174, 0, 40]  # fmt: skip


def make_app(**changes: Any) -> FastAPI:
    values: dict[str, Any] = {
        "model": {"url": "http://127.0.0.1:9/v2/models/income/infer", "name": "income"},
        "data": {"reference": paths.REFERENCE, "target": "loan"},
        "features": {"source": "reference"},
        "service": {"store": ":memory:", "max_body_bytes": 64 * 1024},
        **changes,
    }
    return create_app(Settings(**values))


def post(app: FastAPI, path: str, sent: HTTPMessage, **headers: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.post(path, content=sent.body, headers={**sent.headers, **headers})

    return asyncio.run(call())


def an_event(id: str = "e1", rows: int = 1) -> HTTPMessage:
    return message(kserve_event("request", v2_request([ROW] * rows), id))


def code_of(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def guarded(income_files: Path) -> FastAPI:
    return make_app(auth={"tokens": [TOKEN]}, inference_log={"sink_secret": SECRET})


def test_with_access_control_on_the_secret_path_admits_a_logger_and_nothing_else(
    guarded: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        admitted = post(guarded, f"/inferences/{SECRET}", an_event("a"))
        assert admitted.status_code == 200, admitted.text
        assert admitted.json()["inferences"] == ["a"]
        plain = post(guarded, "/inferences", an_event("b"))
        assert plain.status_code == 401 and code_of(plain) == "unauthorized"
        wrong = post(guarded, f"/inferences/{SECRET[:-1]}x", an_event("c"))
        assert wrong.status_code == 401
        wrong_with_token = post(
            guarded,
            "/inferences/another-secret-value",
            an_event("d"),
            authorization=f"Bearer {TOKEN}",
        )
        assert wrong_with_token.status_code == 404 and code_of(wrong_with_token) == "not_found"
        with_token = post(guarded, "/inferences", an_event("e"), authorization=f"Bearer {TOKEN}")
        assert with_token.status_code == 200
    # the secret path admits only the sink: the same secret opens no other route
    other = post(guarded, f"/inferences/{SECRET}/explain", an_event("f"))
    assert other.status_code == 401
    logged = "\n".join(
        r.getMessage() + str(getattr(r, "fields", ""))
        for r in caplog.records
        if r.name.startswith("explainer_service")  # the service's, not this test's client's
    )
    assert "POST /inferences/{secret} 200" in logged
    assert SECRET not in logged and "another-secret-value" not in logged
    store = guarded.state.store
    assert [store.inference(id) is not None for id in "abcde"] == [1, 0, 0, 0, 1]


def test_without_a_secret_any_path_below_the_sink_is_404(income_files: Path) -> None:
    app = make_app()
    assert post(app, "/inferences", an_event()).status_code == 200
    refused = post(app, f"/inferences/{SECRET}", an_event("x"))
    assert refused.status_code == 404 and code_of(refused) == "not_found"


def test_a_sink_switched_off_is_404(income_files: Path) -> None:
    app = make_app(inference_log={"enabled": False})
    refused = post(app, "/inferences", an_event())
    assert (
        refused.status_code == 404 and "inference_log.enabled" in refused.json()["error"]["message"]
    )


def test_beyond_the_rate_events_get_429_with_retry_after(income_files: Path) -> None:
    app = make_app(inference_log={"max_events_per_s": 0.5})
    assert post(app, "/inferences", an_event("r1")).status_code == 200
    limited = post(app, "/inferences", an_event("r2"))
    assert limited.status_code == 429 and code_of(limited) == "rate_limited"
    assert limited.headers["retry-after"] == "2"
    assert app.state.store.inference("r2") is None


def test_bodies_too_large_before_or_after_inflating_and_too_many_rows_are_413(
    income_files: Path,
) -> None:
    app = make_app(inference_log={"max_rows_per_event": 10})
    big = an_event("big", rows=600)
    assert len(big.body) > 64 * 1024
    assert code_of(post(app, "/inferences", big)) == "body_too_large"
    inflated = post(app, "/inferences", HTTPMessage(big.headers, gzip.compress(big.body)))
    assert inflated.status_code == 413 and code_of(inflated) == "body_too_large"
    rows = post(app, "/inferences", an_event("rows", rows=11))
    assert rows.status_code == 413 and code_of(rows) == "too_many_rows"
    assert rows.json()["error"]["detail"] == {"rows": 11, "limit": 10}


def test_malformed_events_are_4xx_naming_the_attribute(income_files: Path) -> None:
    app = make_app()
    sent = an_event()
    headers = {k: v for k, v in sent.headers.items() if k != "ce-id"}
    missing = post(app, "/inferences", HTTPMessage(headers, sent.body))
    assert missing.status_code == 400 and code_of(missing) == "invalid_event"
    assert missing.json()["error"]["detail"]["field"] == "id"
    garbled = post(app, "/inferences", HTTPMessage(sent.headers, b'{"inputs": "x"}'))
    assert garbled.status_code == 422 and code_of(garbled) == "invalid_payload"
    text = post(
        app, "/inferences", HTTPMessage({**sent.headers, "content-type": "text/plain"}, sent.body)
    )
    assert text.status_code == 415


def test_a_store_that_fails_is_503_not_the_loggers_fault(income_files: Path) -> None:
    app = make_app()
    app.state.store.close()
    failed = post(app, "/inferences", an_event("lost"))
    assert failed.status_code == 503 and code_of(failed) == "store_unavailable"
