"""The service's exception tree.

    ExplainerServiceError
     ├── PayloadError              the caller's inference payload cannot be read
     └── ModelError                calling the remote model failed (names the URL)
          ├── ModelUnavailableError    connection refused/reset or 503, after retries
          ├── ModelTimeoutError        no answer within ``timeout_s``
          ├── ModelResponseError       the model answered 4xx/5xx
          └── ProtocolMismatchError    the answer is not in the configured protocol's shape

Errors of the explanation library (``explainers.errors``) pass through unchanged.
"""

from __future__ import annotations

import re


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
