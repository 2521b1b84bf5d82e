"""The service's exception tree.

    ExplainerServiceError
     ├── PayloadError              the caller's inference payload cannot be read
     │    └── MalformedJsonError       the body is not JSON at all
     ├── BodyTooLargeError         the request body is larger than allowed
     ├── AccessError               the request may not do what it asks (explainer_service.security)
     │    ├── UnauthorizedError        no valid bearer token, trusted header or link signature
     │    ├── LinkSignatureError       a signed link was altered
     │    │    └── LinkExpiredError        ... or its time has passed
     │    ├── CrossSiteError           a state-changing request sent by another site's page
     │    └── UnsupportedMediaTypeError    a body type a foreign page can send unasked
     ├── NotFoundError             no such explanation
     ├── NotReadyError             the explainers are still being fitted
     │    └── ShuttingDownError       the service stops: no new explanations (503, Retry-After)
     ├── QueueFullError            too many explanations wait already: try again later (429)
     ├── DeadlineExceededError     the explanation ran longer than its deadline and was stopped
     ├── WorkerError               an error raised in a worker process, as its HTTP answer
     ├── WorkerCrashedError        the worker process died while running the explanation
     └── ModelError                calling the remote model failed (names the URL)
          ├── ModelUnavailableError    connection refused/reset or 503, after retries
          ├── ModelTimeoutError        no answer within ``timeout_s``
          ├── ModelResponseError       the model answered 4xx/5xx
          └── ProtocolMismatchError    the answer is not in the configured protocol's shape

``StoreError`` (``explainer_service.store``: the store is unreachable) is answered 503
``store_unavailable``; its message, which names the store, is for the log.

Errors of the explanation library (``explainers.errors``) pass through unchanged.
``http_error`` is the one place where any of them becomes an HTTP status and a JSON body
``{"error": {"code", "message", "detail", "request_id"}}`` (``ErrorBody``): 4xx for what the
caller can fix, 502/503/504 for the model, 500 for the service's own faults, whose message
says only "internal error" and the request id (the log has the traceback).

A ``ModelError``'s message names the model's URL and quotes its answer, which may hold
internals of the model server: that is for the log. Clients read ``public``.
"""

from __future__ import annotations

import math
import re
import signal
from typing import Any

from pydantic import BaseModel, Field

from explainer_service.observability import context
from explainers.errors import (
    BudgetExceededError,
    ModelOutputError,
    ParameterError,
    SchemaError,
    UnknownCategoryError,
    cut,
    shown,
)


def snippet(text: str, limit: int = 200) -> str:
    """A short one-line excerpt of a response body, for error messages."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ExplainerServiceError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ExplainerServiceError):
    """The configuration is invalid; the message names every key that is wrong."""


class StoreError(ExplainerServiceError):
    """The store cannot be opened or used: unreachable, refused, corrupted, read-only, full, or
    newer than this release. The message never holds a password."""


class CodecError(ExplainerServiceError, ValueError):
    """A body does not have the protocol's shape. ``field`` is a JSON path when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadError(ExplainerServiceError, ValueError):
    """An inference payload does not fit the protocol or the feature schema.

    ``field`` points at the offending part (a JSON path or a feature name) when known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedJsonError(PayloadError):
    """The body is not valid JSON."""


class BodyTooLargeError(ExplainerServiceError):
    """The request body is larger than ``service.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class AccessError(ExplainerServiceError):
    """The request may not do what it asks; refused before any route reads it."""


class UnauthorizedError(AccessError):
    """Access control is on and the request has no valid bearer token, trusted header or
    link signature."""


class LinkSignatureError(AccessError):
    """A signed link's signature is missing, malformed or does not match the link."""


class LinkExpiredError(LinkSignatureError):
    """A signed link whose signature matches, past its ``expires``."""


class CrossSiteError(AccessError):
    """A state-changing request that a page of another site made the browser send."""


class UnsupportedMediaTypeError(AccessError):
    """A body sent as a form or as text: what a foreign page can send without asking."""

    def __init__(self, content_type: str) -> None:
        super().__init__(
            f"a body sent as {content_type} is refused; send JSON (Content-Type: application/json)"
        )
        self.content_type = content_type


class NotFoundError(ExplainerServiceError):
    """No explanation has that id."""


class NotReadyError(ExplainerServiceError):
    """The explainers are still being fitted."""


class ShuttingDownError(NotReadyError):
    """The service is shutting down: it takes no new explanations, and those it did not
    finish are kept, pending, for the next process on its store (another replica, or this
    one restarted). ``retry_after_s``: when to ask again."""

    def __init__(
        self,
        message: str = "the service is shutting down and takes no new explanations",
        retry_after_s: int = 1,
    ) -> None:
        super().__init__(f"{message}; ask again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class QueueFullError(ExplainerServiceError):
    """``service.max_queue`` explanations wait for a worker already; ``retry_after_s`` is
    how long the ones waiting should take."""

    def __init__(
        self, waiting: int, retry_after_s: int, what: str = "explanations are waiting for a worker"
    ) -> None:
        super().__init__(f"{waiting} {what} already; try again in {retry_after_s} s")
        self.waiting = waiting
        self.retry_after_s = retry_after_s


class DeadlineExceededError(ExplainerServiceError):
    """The explanation ran longer than its deadline; its worker was stopped and replaced."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(
            f"the explanation did not finish within {deadline_s:g} s "
            "(service.budget.max_seconds) and was stopped; ask for less work (fewer samples)"
        )
        self.deadline_s = deadline_s


class WorkerError(ExplainerServiceError):
    """An error raised while a worker process explained, carried back as ``http_error`` made it.

    Exceptions do not always survive pickling (keyword-only arguments), so a worker sends
    ``(status, body)`` and the service raises this; ``http_error`` gives them back unchanged.
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body["error"]["message"]))
        self.status = status
        self.body = body


class WorkerCrashedError(ExplainerServiceError):
    """The worker process died (killed, out of memory, a crash in native code) while running
    the explanation. The pool replaces it; the request may be retried."""

    def __init__(self, worker: int, exit_code: int | None) -> None:
        how = _exit_description(exit_code)
        super().__init__(
            f"the worker process running this explanation died ({how}); it was replaced "
            "and the request may be retried"
        )
        self.worker = worker
        self.exit_code = exit_code


def _exit_description(exit_code: int | None) -> str:
    if exit_code is None:
        return "exit code unknown"
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"exit code {exit_code}, killed by {name}"
    return f"exit code {exit_code}"


class ModelError(ExplainerServiceError):
    """Calling the remote model failed.

    ``message`` (and ``str()``), for the log: ``public``, then the URL, the status, the
    ``cause`` (e.g. the connection error) and a snippet of the model's answer. ``public``,
    for clients: what went wrong in the service's own words, without the URL or anything
    the model sent.
    """

    def __init__(
        self,
        public: str,
        *,
        url: str,
        status: int | None = None,
        body: str | None = None,
        cause: str | None = None,
    ) -> None:
        parts = [f"{public} ({url}"]
        if status is not None and f"HTTP {status}" not in public:
            parts.append(f", HTTP {status}")
        parts.append(")")
        if cause:
            parts.append(f": {cause}")
        if body:
            parts.append(f": {snippet(body)}")
        super().__init__("".join(parts))
        self.public = public
        self.url = url
        self.status = status
        self.body_snippet = snippet(body) if body else None


class ModelUnavailableError(ModelError):
    """The model could not be reached, or said it is unavailable, after bounded retries."""


class ModelTimeoutError(ModelError):
    """The model did not answer within the configured timeout."""


class ModelResponseError(ModelError):
    """The model answered with an error status."""


class ProtocolMismatchError(ModelError):
    """The model's answer is not in the shape the configured protocol promises."""


class ErrorDetail(BaseModel):
    code: str = Field(description="what went wrong, e.g. invalid_payload, model_unavailable")
    message: str = Field(description="for people; names the offending field when known")
    detail: dict[str, Any] = Field(
        default_factory=dict, description="the code's particulars, e.g. the field"
    )
    request_id: str | None = Field(
        None, description="as in the X-Request-ID header; the log's records carry it too"
    )


class ErrorBody(BaseModel):
    """Every error answer's body."""

    error: ErrorDetail


def error_body(code: str, message: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"error": {...}}``, with the current request's id inside a request."""
    error: dict[str, Any] = {"code": code, "message": message, "detail": detail or {}}
    current = context.current()
    if current is not None:
        error["request_id"] = current
    return {"error": error}


def http_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, body) for any exception; unknown ones become a 500 without internals.

    Inside a request the body carries its id. A ``WorkerError`` is answered as the worker
    answered it, with this request's id.
    """
    if isinstance(exc, WorkerError):
        status, error = exc.status, exc.body["error"]
        code, message, detail = error["code"], error["message"], error.get("detail") or {}
    else:
        status, code, detail = _classify(exc)
        message = _public_message(exc)
    if code == "internal":
        rid = context.current()
        message = f"internal error (request id {rid})" if rid else "internal error"
    return status, error_body(code, message, {k: _json_safe(v) for k, v in detail.items()})


#: The exceptions that ``http_error`` answers with their own code: the app's handlers are
#: registered on these; anything else is an internal error.
HANDLED: tuple[type[Exception], ...] = (
    ExplainerServiceError,
    StoreError,
    ParameterError,
    SchemaError,
    ModelOutputError,
)


def _public_message(exc: BaseException) -> str:
    if isinstance(exc, ModelError):
        return exc.public
    if isinstance(exc, StoreError):
        return "the explanation store is unavailable; try again later"
    return str(getattr(exc, "message", None) or exc)


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it, short: NaN and infinities (JSON parsers accept them
    from a caller), long text and numbers, objects, as their cut repr."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, int):
        text = shown(value)
        return value if text == repr(value) else text
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return shown(value)


def _access_status(exc: AccessError) -> tuple[int, str, dict[str, Any]]:
    if isinstance(exc, UnauthorizedError):
        return 401, "unauthorized", {}
    if isinstance(exc, LinkExpiredError):
        return 403, "link_expired", {}
    if isinstance(exc, CrossSiteError):
        return 403, "cross_site", {}
    if isinstance(exc, UnsupportedMediaTypeError):
        return 415, "unsupported_media_type", {"content_type": exc.content_type}
    return 403, "forbidden", {}


def _classify(exc: BaseException) -> tuple[int, str, dict[str, Any]]:
    if isinstance(exc, MalformedJsonError):
        return 400, "malformed_json", {"field": exc.field}
    if isinstance(exc, PayloadError):
        return 422, "invalid_payload", {"field": exc.field}
    if isinstance(exc, UnknownCategoryError):
        return (
            422,
            "unknown_category",
            {
                "field": exc.feature,
                "value": exc.value,
                "valid": exc.valid,
            },
        )
    if isinstance(exc, SchemaError):
        return 422, "invalid_instance", {"field": exc.feature}
    if isinstance(exc, ParameterError):
        code = "unknown_method" if exc.field == "method" else "invalid_parameter"
        return 422, code, {"field": exc.field, "method": exc.method}
    if isinstance(exc, BudgetExceededError):
        spent = "estimate" if exc.estimated else "used"
        detail = {"budget": exc.budget, "limit": exc.limit, spent: exc.used}
        return 422, "budget_exceeded", {**detail, "parameters": exc.parameters}
    if isinstance(exc, BodyTooLargeError):
        return 413, "body_too_large", {"limit": exc.limit}
    if isinstance(exc, AccessError):
        return _access_status(exc)
    if isinstance(exc, NotFoundError):
        return 404, "not_found", {}
    if isinstance(exc, ShuttingDownError):
        return 503, "shutting_down", {"retry_after_s": exc.retry_after_s}
    if isinstance(exc, NotReadyError):
        return 503, "not_ready", {}
    if isinstance(exc, QueueFullError):
        return 429, "queue_full", {"waiting": exc.waiting, "retry_after_s": exc.retry_after_s}
    if isinstance(exc, DeadlineExceededError):
        return 504, "deadline_exceeded", {"deadline_s": exc.deadline_s}
    if isinstance(exc, WorkerCrashedError):
        return 500, "worker_crashed", {"worker": exc.worker, "exit_code": exc.exit_code}
    if isinstance(exc, ModelError):
        detail = {"status": exc.status}
        if isinstance(exc, ModelUnavailableError):
            return 503, "model_unavailable", detail
        if isinstance(exc, ModelTimeoutError):
            return 504, "model_timeout", detail
        if isinstance(exc, ProtocolMismatchError):
            return 502, "protocol_mismatch", detail
        return 502, "model_error", detail
    if isinstance(exc, ModelOutputError):
        return 502, "model_output", {}
    if isinstance(exc, StoreError):
        return 503, "store_unavailable", {}
    return 500, "internal", {}
