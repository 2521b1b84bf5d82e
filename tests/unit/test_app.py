"""How the application answers errors: the project's own with their status, anything else
as a 500 that names the request id, which every answer and the log carry."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, model_validator

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.errors import (
    ExplainerServiceError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
    PayloadError,
    ProtocolMismatchError,
    QueueFullError,
    StoreError,
)
from explainer_service.settings import Settings
from explainers import (
    BudgetExceededError,
    ExplainerError,
    ModelOutputError,
    ParameterError,
    UnknownCategoryError,
)


class Span(BaseModel):
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.low > self.high:
            raise ValueError("low must not pass high")
        return self


SECRET_URL = "http://model.internal:8500/v2/models/m/infer"
SECRET_BODY = "Traceback: db password=hunter2 at /srv/model.py"
SECRET_STORE = "postgresql://app:***@db.internal:5432/explanations"

MODEL_ERRORS = {
    "unavailable": (
        ModelUnavailableError(
            "the model is unreachable after 4 attempt(s)",
            url=SECRET_URL,
            cause="ConnectError: [Errno 111] Connection refused",
        ),
        503,
        "model_unavailable",
    ),
    "timeout": (
        ModelTimeoutError("the model did not answer within 10.0 s", url=SECRET_URL),
        504,
        "model_timeout",
    ),
    "error": (
        ModelResponseError(
            "the model answered HTTP 500", url=SECRET_URL, status=500, body=SECRET_BODY
        ),
        502,
        "model_error",
    ),
    "mismatch": (
        ProtocolMismatchError(
            "the model's answer is not a v2 probabilities answer",
            url=SECRET_URL,
            status=200,
            body=SECRET_BODY,
            cause="'outputs' is empty",
        ),
        502,
        "protocol_mismatch",
    ),
}


@pytest.fixture
def app(income_files: Path) -> FastAPI:
    settings = Settings(
        model={"url": "http://127.0.0.1:9/v2/models/m/infer"},
        data={"reference": paths.REFERENCE, "target": "loan"},
        features={"source": "reference"},  # no model to ask for its inputs
        service={"store": ":memory:"},
    )
    app = create_app(settings)

    @app.get("/payload-error")
    def payload_error() -> None:
        raise PayloadError("no rows", field="inputs")

    @app.get("/category-error")
    def category_error() -> None:
        raise UnknownCategoryError("workclass", "Astronaut", ["Private"])

    @app.get("/over-budget")
    def over_budget() -> None:
        raise BudgetExceededError(
            "anchors may cost more than max_rows allows",
            budget="max_rows",
            limit=10,
            used=11,
            estimated=True,
            parameters=["max_samples"],
        )

    @app.get("/parameter-error")
    def parameter_error() -> None:
        raise ParameterError("shap", "nsamples", "nsamples: too few")

    @app.get("/queue-full")
    def queue_full() -> None:
        raise QueueFullError(32, 17)

    @app.get("/nan-category")
    def nan_category() -> None:
        raise UnknownCategoryError("workclass", float("nan"), ["Private"])

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("a bug with a secret inside")

    @app.get("/html-bug")
    def html_bug(request: Request) -> None:
        request.state.html = True
        raise RuntimeError("a bug on a page")

    @app.get("/service-fault")
    def service_fault() -> None:
        raise ExplainerServiceError("a fault of our own with a secret inside")

    @app.get("/explainer-fault")
    def explainer_fault() -> None:
        raise ExplainerError("an explainer produced a fractional category code")

    @app.get("/model-output")
    def model_output() -> None:
        raise ModelOutputError("the model answered a label not in class_names ['a']", ["zz"])

    @app.get("/store-down")
    def store_down() -> None:
        raise StoreError(f"the store {SECRET_STORE} failed: server closed the connection")

    @app.post("/span")
    def span(body: Span) -> None:
        """A body that a field, or the whole, can get wrong."""

    @app.get("/model-error/{kind}")
    def model_error(kind: str) -> None:
        raise MODEL_ERRORS[kind][0]

    return app


def get(
    app: FastAPI, route: str, *, headers: dict | None = None, body: object = None
) -> httpx.Response:
    """``GET route`` (``POST`` with a JSON ``body``) in process (no lifespan: nothing calls
    the model). An exception that escaped the application would be raised here."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            if body is not None:
                return await client.post(route, json=body, headers=headers)
            return await client.get(route, headers=headers)

    return asyncio.run(call())


def error_of(response: httpx.Response) -> dict:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [
        ("/payload-error", 422, "invalid_payload"),
        ("/category-error", 422, "unknown_category"),
        ("/model-output", 502, "model_output"),
        ("/over-budget", 422, "budget_exceeded"),
        ("/parameter-error", 422, "invalid_parameter"),
        ("/no/such/route", 404, "not_found"),
        ("/explanations?limit=0", 422, "invalid_request"),
    ],
)
def test_known_errors_are_answered_with_the_request_id_and_not_logged(
    app: FastAPI, route: str, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = get(app, route)
    assert (response.status_code, error_of(response)["code"]) == (status, code)
    assert "connection" not in response.headers  # answered, not re-raised (keep-alive holds)
    assert [r for r in caplog.records if r.name.startswith("explainer_service")] == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"low": "x", "high": 1},
            "low",
            "low: Input should be a valid integer, unable to parse string as an integer",
        ),
        ({"low": 2, "high": 1}, None, "low must not pass high"),
    ],
)
def test_an_invalid_request_names_the_field_and_says_what_is_wrong(
    app: FastAPI, body: dict, field: str | None, message: str
) -> None:
    response = get(app, "/span", body=body)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["message"], error["detail"]) == (
        "invalid_request",
        message,
        {"field": field},
    )


def test_a_value_json_cannot_carry_is_answered_as_text(app: FastAPI) -> None:
    response = get(app, "/nan-category")  # json.loads reads NaN; JSON cannot answer it
    assert response.status_code == 422
    assert error_of(response)["detail"] == {
        "field": "workclass",
        "value": "nan",
        "valid": ["Private"],
    }


@pytest.mark.parametrize("route", ["/bug", "/explainer-fault", "/service-fault"])
def test_an_own_fault_is_a_500_naming_the_request_id_logged_once_with_its_traceback(
    app: FastAPI, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = get(app, route)
    assert response.status_code == 500
    error = error_of(response)
    request_id = error["request_id"]
    assert (error["code"], error["message"]) == (
        "internal",
        f"internal error (request id {request_id})",
    )
    assert "secret" not in response.text and "fractional" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["connection"] == "close"
    crashes = [r for r in caplog.records if r.exc_info]
    assert len(crashes) == 1 and request_id in crashes[0].getMessage()


def test_an_own_fault_on_a_page_is_a_page(app: FastAPI) -> None:
    response = get(app, "/html-bug")
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"] in response.text
    assert "a bug on a page" not in response.text


@pytest.mark.parametrize("kind", list(MODEL_ERRORS))
def test_a_model_failure_hides_the_model_url_and_answer_and_logs_them_once(
    app: FastAPI, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc, status, code = MODEL_ERRORS[kind]
    with caplog.at_level(logging.INFO):
        response = get(app, f"/model-error/{kind}")
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["message"]) == (code, exc.public)
    assert error["detail"] == {"status": exc.status}
    for secret in (SECRET_URL, "model.internal", "hunter2", "Errno", "outputs"):
        assert secret not in response.text
    [record] = [  # besides the request's own record
        r
        for r in caplog.records
        if r.name.startswith("explainer_service") and r.name != "explainer_service.access"
    ]
    assert record.levelno == logging.WARNING and not record.exc_info
    assert SECRET_URL in record.getMessage() and error["request_id"] in record.getMessage()


def test_a_store_that_fails_is_a_503_that_names_it_only_in_the_log(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = get(app, "/store-down")
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "store_unavailable" and "try again" in error["message"]
    assert "db.internal" not in response.text and "closed" not in response.text
    [record] = [r for r in caplog.records if r.name == "explainer_service"]
    assert record.levelno == logging.WARNING and SECRET_STORE in record.getMessage()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("two words", False),
        ("<script>", False),
        ("id\u00e9", False),
    ],
)
def test_an_incoming_request_id_is_kept_when_it_is_short_and_plain(
    app: FastAPI, sent: str, kept: bool
) -> None:
    response = get(app, "/payload-error", headers={"X-Request-ID": sent.encode()})
    returned = response.headers["x-request-id"]
    assert (returned == sent) is kept
    assert error_of(response)["request_id"] == returned
    if not kept:
        assert len(returned) == 16 and returned.isalnum()


def test_every_answer_carries_a_request_id_of_its_own(app: FastAPI) -> None:
    first, second = get(app, "/health/live"), get(app, "/health/live")
    assert first.status_code == 200
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_a_full_queue_answers_429_with_retry_after(app: FastAPI) -> None:
    response = get(app, "/queue-full")
    assert response.status_code == 429 and response.headers["retry-after"] == "17"
    error = error_of(response)
    assert error["code"] == "queue_full"
    assert error["detail"] == {"waiting": 32, "retry_after_s": 17}


def test_the_landing_page_does_not_show_the_model_url(app: FastAPI) -> None:
    page = get(app, "/")
    assert page.status_code == 200 and "Explanations for" in page.text
    assert "127.0.0.1:9" not in page.text and "/v2/models/m/infer" not in page.text


def test_a_client_that_goes_away_mid_body_is_logged_as_499_not_as_an_error(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers declaring 100000 bytes, 10 of them, then the connection is gone: nothing to
    answer, one record of the request with status 499, no ERROR, and no 5xx counted."""
    arriving = iter(
        [
            {"type": "http.request", "body": b'{"instance', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return next(arriving, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/explain",
        "raw_path": b"/explain",
        "root_path": "",
        "query_string": b"method=shap",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
        "client": ("127.0.0.1", 50000),
        "server": ("service", 80),
    }
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    [record] = [r for r in caplog.records if r.name == "explainer_service.access"]
    assert record.levelno == logging.INFO and record.fields["status"] == 499  # type: ignore[attr-defined]
    metrics = get(app, "/metrics").text
    assert 'explainer_http_requests_total{status="4xx"} 1.0' in metrics
    assert 'status="5xx"' not in metrics
