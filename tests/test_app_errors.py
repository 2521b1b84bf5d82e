"""How the application answers errors: known ones end the request, unknown ones close."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.errors import PayloadError, QueueFullError
from explainer_service.settings import Settings
from explainers import UnknownCategoryError


@pytest.fixture
def app(income_files: Path) -> FastAPI:
    settings = Settings(
        model={"url": "http://127.0.0.1:9/v2/models/m/infer"},
        data={"reference": paths.REFERENCE, "target": "loan"},
        service={"store": ":memory:"},
    )
    app = create_app(settings)

    @app.get("/payload-error")
    def payload_error() -> None:
        raise PayloadError("no rows", field="inputs")

    @app.get("/category-error")
    def category_error() -> None:
        raise UnknownCategoryError("workclass", "Astronaut", ["Private"])

    @app.get("/queue-full")
    def queue_full() -> None:
        raise QueueFullError(32, 17)

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("a bug")

    return app


def get(app: FastAPI, route: str, *, raise_app_exceptions: bool) -> httpx.Response:
    """``GET route`` in process (no lifespan: nothing calls the model)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get(route)

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [("/payload-error", 422, "invalid_payload"), ("/category-error", 422, "unknown_category")],
)
def test_known_errors_are_answered_and_not_raised_on(
    app: FastAPI, route: str, status: int, code: str
) -> None:
    # an error re-raised after the answer (which makes uvicorn drop the kept-alive
    # connection) would fail here
    response = get(app, route, raise_app_exceptions=True)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert "connection" not in response.headers


def test_an_unexpected_error_is_a_500_that_closes_the_connection(app: FastAPI) -> None:
    response = get(app, "/bug", raise_app_exceptions=False)
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("internal", "internal error")
    assert response.headers["connection"] == "close"


def test_a_full_queue_answers_429_with_retry_after(app: FastAPI) -> None:
    response = get(app, "/queue-full", raise_app_exceptions=True)
    assert response.status_code == 429 and response.headers["retry-after"] == "17"
    error = response.json()["error"]
    assert error["code"] == "queue_full"
    assert error["detail"] == {"waiting": 32, "retry_after_s": 17}
