"""What the client raises.

ClientError
 ├── ServiceUnreachableError   no HTTP answer: connection refused, reset, timed out
 └── ServiceError              the service answered an error (status, code, request id)
      ├── InvalidRequestError      400, 413, 415, 422: the payload, instance, method or a
      │                            parameter is wrong (``detail["field"]`` names it)
      ├── UnauthorizedError        401: no valid token (``token=``)
      ├── ForbiddenError           403
      ├── NotFoundError            404: no explanation (or logged inference) with that id
      ├── ConflictError            409: a logged inference that cannot be explained: only
      │                            its answer was logged, or the model changed (``code``)
      ├── QueueFullError           429: try again after ``retry_after`` seconds
      ├── ModelError               502, 504 and 503 ``model_unavailable``: the model failed
      ├── NotReadyError            503 ``not_ready``: the explainers are still being fitted
      └── ServerFaultError         500 and anything else
"""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of every error of ``explainer_service.client``."""


class ServiceUnreachableError(ClientError):
    """The service gave no HTTP answer (the cause is chained)."""


class WaitTimeoutError(ClientError, TimeoutError):
    """An accepted explanation was not done within the client's timeout; ``id`` names it
    (``client.get(id)`` fetches it later: the service goes on computing it)."""

    def __init__(self, id: str, timeout: float) -> None:
        super().__init__(f"explanation {id} was not done within {timeout:g} s")
        self.id = id


class ServiceError(ClientError):
    """The service answered ``{"error": {"code", "message", "detail", "request_id"}}``.

    ``status``: the HTTP status; ``code``: the service's error code (``invalid_payload``,
    ``model_unavailable``, ...); ``request_id``: the answer's ``X-Request-ID``, which every
    log record of the request carries (give it to whoever runs the service)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        detail: dict[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail or {}
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        rid = f", request {self.request_id}" if self.request_id else ""
        return f"{self.message} (HTTP {self.status} {self.code}{rid})"


class InvalidRequestError(ServiceError):
    """The request is wrong: the payload, the instance, the method or a parameter."""


class UnauthorizedError(ServiceError):
    """Access control is on and no valid bearer token was sent."""


class ForbiddenError(ServiceError):
    """The request was refused (an altered or expired signed link, a cross-site request)."""


class NotFoundError(ServiceError):
    """No such explanation (or route)."""


class ConflictError(ServiceError):
    """A logged inference cannot be explained: only its answer was logged
    (``inference_incomplete``), or the model no longer gives the logged answer and the
    service refuses (``model_changed``)."""


class QueueFullError(ServiceError):
    """Too many explanations wait already; ``retry_after`` says when to try again."""


class ModelError(ServiceError):
    """The model failed: unreachable, slow, an error, or an answer in another shape."""


class NotReadyError(ServiceError):
    """The service is not ready: its explainers are being fitted, or it is stopping."""


class ServerFaultError(ServiceError):
    """The service's own fault (500, ``worker_crashed``): the request may be retried."""


_BY_STATUS: dict[int, type[ServiceError]] = {
    400: InvalidRequestError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: QueueFullError,
    502: ModelError,
    504: ModelError,
}


def error_class(status: int, code: str) -> type[ServiceError]:
    """The exception for an error answer: by status, and by code where a status means two
    things (503: the model is unreachable, or the service is not ready)."""
    if status == 503:
        return ModelError if code.startswith("model_") else NotReadyError
    if code == "deadline_exceeded":
        return ServerFaultError
    return _BY_STATUS.get(status, ServerFaultError)


def service_error(
    status: int, body: Any, request_id: str | None = None, retry_after: float | None = None
) -> ServiceError:
    """The typed exception for an error body (an answer's, or a stored explanation's
    ``error``, which holds its status); a body not in the service's shape keeps its text."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else repr(body)
        error = {"code": "http_error", "message": f"HTTP {status}: {text[:200]}"}
    code = str(error.get("code") or "http_error")
    return error_class(status, code)(
        str(error.get("message") or f"HTTP {status}"),
        status=status,
        code=code,
        detail=error.get("detail") if isinstance(error.get("detail"), dict) else {},
        request_id=request_id or error.get("request_id"),
        retry_after=retry_after,
    )


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the typed exception for an error answer; nothing for 2xx."""
    if response.is_success:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    retry = response.headers.get("retry-after")
    raise service_error(
        response.status_code,
        body,
        response.headers.get("x-request-id"),
        float(retry) if retry and retry.isdigit() else None,
    )
