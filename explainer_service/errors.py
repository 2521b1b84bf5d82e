"""The service's exception tree.

    ExplainerServiceError
     ├── PayloadError              the caller's inference payload cannot be read
     │    └── MalformedJsonError       the body is not JSON at all
     ├── NotFoundError             no such explanation
     ├── NotReadyError             the explainers are still being fitted
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
from typing import Any

from explainers.errors import (
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


class NotFoundError(ExplainerServiceError):
    """No explanation has that id."""


class NotReadyError(ExplainerServiceError):
    """The explainers are still being fitted."""


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
    status, code, detail = _classify(exc)
    message = (getattr(exc, "message", None) or str(exc)) if status != 500 else "internal error"
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
    if isinstance(exc, NotFoundError):
        return 404, "not_found", {}
    if isinstance(exc, NotReadyError):
        return 503, "not_ready", {}
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
