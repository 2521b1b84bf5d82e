"""The error table: each exception found by its class's MRO, answered with its status, code
and detail; anything it does not name is a 500 that says only the request id."""

from __future__ import annotations

import json

import pytest

from explainer_service.errors import (
    HANDLED,
    INTERNAL,
    TABLE,
    AccessError,
    BodyTooLargeError,
    CodecError,
    ConfigError,
    CrossSiteError,
    DeadlineExceededError,
    EventError,
    ExplainerServiceError,
    LinkExpiredError,
    LinkSignatureError,
    MalformedJsonError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
    NotFoundError,
    NotReadyError,
    PayloadError,
    Problem,
    ProtocolMismatchError,
    QueueFullError,
    RateLimitedError,
    RowCountConflictError,
    ShuttingDownError,
    StoreError,
    TooManyRowsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    WorkerCrashedError,
    WorkerError,
    error_body,
    http_error,
    problem_of,
    rule_of,
    status_of,
)
from explainer_service.observability import context
from explainers.errors import (
    BudgetExceededError,
    ExplainerError,
    InvalidValueError,
    MissingFeatureError,
    ModelOutputError,
    ParameterError,
    SchemaError,
    UnexpectedFeatureError,
    UnknownCategoryError,
    UnknownMethodError,
    cut,
)

URL = "http://model.internal/v2/models/m/infer"

#: Every code the service answers, each with its status and detail (as it answered before
#: the table was one dict).
ANSWERS: list[tuple[Exception, int, str, dict]] = [
    (MalformedJsonError("not JSON", field="body"), 400, "malformed_json", {"field": "body"}),
    (PayloadError("no rows", field="inputs"), 422, "invalid_payload", {"field": "inputs"}),
    (
        UnknownCategoryError("workclass", "Astronaut", ["Private"]),
        422,
        "unknown_category",
        {"field": "workclass", "value": "Astronaut", "valid": ["Private"]},
    ),
    (MissingFeatureError(["age"]), 422, "invalid_instance", {"field": "age"}),
    (InvalidValueError("age", "x", "not a number"), 422, "invalid_instance", {"field": "age"}),
    (UnexpectedFeatureError(["zz"], ["age"]), 422, "invalid_instance", {"field": "zz"}),
    (
        UnknownMethodError("lime", "unknown method 'lime'"),
        422,
        "unknown_method",
        {"field": "method", "method": "lime"},
    ),
    (
        ParameterError("shap", "nsamples", "too few"),
        422,
        "invalid_parameter",
        {"field": "nsamples", "method": "shap"},
    ),
    (
        BudgetExceededError(
            "over", budget="max_rows", limit=10, used=11, estimated=True, parameters=["n"]
        ),
        422,
        "budget_exceeded",
        {"budget": "max_rows", "limit": 10, "estimate": 11, "parameters": ["n"]},
    ),
    (
        BudgetExceededError("over", budget="max_model_calls", limit=5, used=5),
        422,
        "budget_exceeded",
        {"budget": "max_model_calls", "limit": 5, "used": 5, "parameters": []},
    ),
    (BodyTooLargeError(100), 413, "body_too_large", {"limit": 100}),
    (EventError("no id", field="id"), 400, "invalid_event", {"field": "id"}),
    (TooManyRowsError(11, 10), 413, "too_many_rows", {"rows": 11, "limit": 10}),
    (RowCountConflictError("k", 2, 1), 409, "row_count_conflict", {"stored": 2, "given": 1}),
    (RateLimitedError(500, 1), 429, "rate_limited", {"retry_after_s": 1}),
    (UnauthorizedError("no token"), 401, "unauthorized", {}),
    (LinkSignatureError("altered"), 403, "forbidden", {}),
    (LinkExpiredError("expired"), 403, "link_expired", {}),
    (CrossSiteError("foreign page"), 403, "cross_site", {}),
    (
        UnsupportedMediaTypeError("text/plain"),
        415,
        "unsupported_media_type",
        {"content_type": "text/plain"},
    ),
    (AccessError("no"), 403, "forbidden", {}),
    (NotFoundError("no such id"), 404, "not_found", {}),
    (NotReadyError("fitting"), 503, "not_ready", {}),
    (ShuttingDownError(retry_after_s=3), 503, "shutting_down", {"retry_after_s": 3}),
    (QueueFullError(7, 12), 429, "queue_full", {"waiting": 7, "retry_after_s": 12}),
    (DeadlineExceededError(2.5), 504, "deadline_exceeded", {"deadline_s": 2.5}),
    (WorkerCrashedError(1, -9), 500, "worker_crashed", {"worker": 1, "exit_code": -9}),
    (ModelUnavailableError("down", url=URL), 503, "model_unavailable", {"status": None}),
    (ModelTimeoutError("slow", url=URL), 504, "model_timeout", {"status": None}),
    (ModelResponseError("HTTP 500", url=URL, status=500), 502, "model_error", {"status": 500}),
    (
        ProtocolMismatchError("shape", url=URL, status=200),
        502,
        "protocol_mismatch",
        {"status": 200},
    ),
    (ModelError("failed", url=URL), 502, "model_error", {"status": None}),
    (ModelOutputError("a label not in class_names", ["zz"]), 502, "model_output", {}),
    (StoreError("the store db.internal failed"), 503, "store_unavailable", {}),
]


@pytest.mark.parametrize(
    ("exc", "status", "code", "detail"), ANSWERS, ids=[type(a[0]).__name__ for a in ANSWERS]
)
def test_each_error_is_answered_with_its_status_code_and_detail(
    exc: Exception, status: int, code: str, detail: dict
) -> None:
    answered, body = http_error(exc)
    assert (answered, body["error"]["code"], body["error"]["detail"]) == (status, code, detail)
    assert status_of(code) == status


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda cls: cls.__name__)
def test_every_class_in_the_table_resolves_to_its_own_rule(cls: type[Exception]) -> None:
    assert rule_of(cls.__new__(cls)) is TABLE[cls]  # found by its MRO, whatever the order
    assert cls in HANDLED


def test_each_code_has_one_status() -> None:
    codes = [rule.code for rule in TABLE.values()]
    assert len(set(codes)) == len(codes) and INTERNAL not in codes


def test_a_subclass_not_in_the_table_gets_its_parents_answer() -> None:
    class SlowerStill(ModelTimeoutError):
        pass

    class OddCategory(UnknownCategoryError):
        pass

    assert SlowerStill not in TABLE and OddCategory not in TABLE
    status, body = http_error(SlowerStill("no answer within 1 s", url=URL))
    assert (status, body["error"]["code"]) == (504, "model_timeout")
    assert body["error"]["message"] == "no answer within 1 s"  # public: no URL
    status, body = http_error(OddCategory("workclass", "x", ["Private"]))
    assert (status, body["error"]["code"]) == (422, "unknown_category")


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug with a secret inside"),
        ExplainerServiceError("a fault of our own, secret"),
        ExplainerError("an explainer's own fault, secret"),
        ConfigError("model.url: secret"),
        CodecError("a codec's secret"),
        KeyError("secret"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_an_exception_the_table_does_not_name_is_internal_with_only_the_request_id(
    exc: Exception,
) -> None:
    with context.bound("req-42"):
        status, body = http_error(exc)
    assert status == 500
    assert body == {
        "error": {
            "code": "internal",
            "message": "internal error (request id req-42)",
            "detail": {},
            "request_id": "req-42",
        }
    }
    assert type(exc) not in HANDLED


def test_clients_read_the_public_message_of_the_model_and_store_errors() -> None:
    model = ModelResponseError("the model answered HTTP 500", url=URL, status=500, body="pw=1")
    assert problem_of(model).message == "the model answered HTTP 500"
    store = problem_of(StoreError("the store postgresql://db.internal failed"))
    assert "db.internal" not in store.message and "try again" in store.message


def test_a_workers_answer_is_given_back_unchanged_with_this_requests_id() -> None:
    answered = problem_of(ParameterError("shap", "nsamples", "too few"))
    with context.bound("req-7"):
        status, body = http_error(WorkerError(answered))
    assert status == 422
    assert body["error"] == {
        "code": "invalid_parameter",
        "message": "too few",
        "detail": {"field": "nsamples", "method": "shap"},
        "request_id": "req-7",
    }
    with context.bound("req-8"):  # an internal error names the request asking now
        _, body = http_error(WorkerError(Problem(INTERNAL, "internal error (request id w)")))
    assert body["error"]["message"] == "internal error (request id req-8)"


def test_a_problem_is_kept_in_a_failed_row_and_read_back() -> None:
    problem = problem_of(QueueFullError(3, 4))
    record = problem.record()
    assert record == {
        "code": "queue_full",
        "message": problem.message,
        "detail": {"waiting": 3, "retry_after_s": 4},
        "status": 429,
    }
    assert Problem.from_record(json.loads(json.dumps(record))) == problem
    # a row written before: the same keys, its status derived again from the code
    old = {"code": "model_timeout", "message": "slow", "detail": {"status": None}, "status": 504}
    assert Problem.from_record(old).status == 504


LONE = "\ud800"  # what json.loads makes of the JSON text "\ud800"


@pytest.mark.parametrize(
    "exc",
    [
        UnknownCategoryError("workclass", LONE, ["Private"]),
        UnexpectedFeatureError([LONE], ["age"]),
        PayloadError(f"not a v2 payload: {LONE}", field=LONE),
        ParameterError("shap", LONE, f"{LONE}: extra inputs are not permitted"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_lone_surrogate_a_client_sent_is_escaped_in_the_answer(exc: Exception) -> None:
    status, body = http_error(exc)
    assert 400 <= status < 500
    sent = json.dumps(body, ensure_ascii=False).encode("utf-8")  # as JSONResponse renders it
    assert LONE not in json.loads(sent)["error"]["message"]
    assert "\\ud800" in json.loads(sent)["error"]["message"] + str(body["error"]["detail"])


def test_the_frameworks_errors_are_made_safe_alike() -> None:
    body = error_body("invalid_request", f"body.{LONE}: extra", {"field": f"body.{LONE}"})
    json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert body["error"]["detail"] == {"field": "body.\\ud800"}


def test_cut_escapes_and_shortens() -> None:
    assert cut("ok") == "ok"
    assert cut(LONE + "é") == "\\ud800é"
    assert len(cut("x" * 10_000)) == 80


def test_model_and_schema_errors_of_the_library_are_in_the_table() -> None:
    for cls in (ParameterError, UnknownMethodError, BudgetExceededError, SchemaError):
        assert cls in TABLE
    assert issubclass(UnknownMethodError, ParameterError)
