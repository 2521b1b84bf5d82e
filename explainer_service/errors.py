"""The service's exception tree.

    ExplainerServiceError
     ├── PayloadError              the caller's inference payload cannot be read
     │    └── MalformedJsonError       the body is not JSON at all
     ├── BodyTooLargeError         the request body is larger than allowed
     ├── NotFoundError             no such explanation
     ├── NotReadyError             the explainers are still being fitted, or the service stops
     ├── WorkerError               an error raised in a worker process, as its HTTP answer
     ├── WorkerCrashedError        the worker process died while running the explanation
     └── ModelError                calling the remote model failed (names the URL)
          ├── ModelUnavailableError    connection refused/reset or 503, after retries
          ├── ModelTimeoutError        no answer within ``timeout_s``
          ├── ModelResponseError       the model answered 4xx/5xx
          └── ProtocolMismatchError    the answer is not in the configured protocol's shape

Errors of the explanation library (``explainers.errors``) pass through unchanged.
``http_error`` is the one place where any of them becomes an HTTP status and a JSON body
``{"error": {"code", "message", "detail"}}``.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from explainers.errors import (
    BudgetExceededError,
    ExplainerError,
    ParameterError,
    SchemaError,
    UnknownCategoryError,
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


class NotFoundError(ExplainerServiceError):
    """No explanation has that id."""


class NotReadyError(ExplainerServiceError):
    """The explainers are still being fitted."""


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
    """Calling the remote model failed."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, body: str | None = None
    ) -> None:
        parts = [f"{message} ({url}"]
        if status is not None:
            parts.append(f", HTTP {status}")
        parts.append(")")
        if body:
            parts.append(f": {snippet(body)}")
        super().__init__("".join(parts))
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


def http_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, body) for any exception; unknown ones become a 500 without internals."""
    if isinstance(exc, WorkerError):
        return exc.status, exc.body
    status, code, detail = _classify(exc)
    known = code != "internal"
    message = (getattr(exc, "message", None) or str(exc)) if known else "internal error"
    return status, {"error": {"code": code, "message": message, "detail": detail}}


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
    if isinstance(exc, NotFoundError):
        return 404, "not_found", {}
    if isinstance(exc, NotReadyError):
        return 503, "not_ready", {}
    if isinstance(exc, WorkerCrashedError):
        return 500, "worker_crashed", {"worker": exc.worker, "exit_code": exc.exit_code}
    if isinstance(exc, ModelError):
        detail = {"url": exc.url, "status": exc.status}
        if isinstance(exc, ModelUnavailableError):
            return 503, "model_unavailable", detail
        if isinstance(exc, ModelTimeoutError):
            return 504, "model_timeout", detail
        if isinstance(exc, ProtocolMismatchError):
            return 502, "protocol_mismatch", detail
        return 502, "model_error", detail
    if isinstance(exc, ExplainerError):
        return 422, "cannot_explain", {}
    return 500, "internal", {}
