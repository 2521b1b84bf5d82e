"""Request limits, in process (no lifespan: nothing calls the model)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.settings import Settings

LIMIT = 1024


@pytest.fixture
def app(income_files: Path) -> FastAPI:
    return create_app(
        Settings(
            model={"url": "http://127.0.0.1:9/v2/models/m/infer"},
            data={"reference": paths.REFERENCE, "target": "loan"},
            features={"source": "reference"},  # no model to ask for its inputs
            service={"store": ":memory:", "max_body_bytes": LIMIT},
        )
    )


def post(app: FastAPI, content) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.post("/explain?method=shap", content=content)

    return asyncio.run(call())


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(app: FastAPI) -> None:
    response = post(app, b"[" + b"1," * LIMIT + b"1]")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert response.json()["error"]["detail"] == {"limit": LIMIT}
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(100):
            yield b" " * 512

    response = post(app, chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_a_body_within_the_limit_reaches_the_route(app: FastAPI) -> None:
    response = post(app, b'{"instances": []}')
    # the explainers are not fitted without the lifespan: the route itself answers
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"
