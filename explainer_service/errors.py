"""The service's exception tree, and the one table that answers it over HTTP.

    ExplainerServiceError
     ├── ConfigError               the configuration is invalid (stops start-up)
     ├── StoreError                the store cannot be opened or used (names it, for the log)
     │    └── StoreReplacedError       its file was deleted or replaced while in use
     ├── CodecError                a body does not have the protocol's shape (inside codecs)
     ├── InputError                a batch's input file cannot be read (explainer_service.batch)
     ├── PayloadError              the caller's inference payload cannot be read
     │    └── MalformedJsonError       the body is not JSON at all
     ├── EventError                a request logger's CloudEvent lacks or garbles an attribute
     ├── TooManyRowsError          a logged event carries more rows than allowed
     ├── RowCountConflictError     an inference's two sides were logged with different row counts
     ├── BodyTooLargeError         the request body is larger than allowed
     ├── RequestTimeoutError       a request's headers or body did not arrive in time (408)
     ├── HeadersTooLargeError      a request's headers are too long or too many (431)
     ├── BodiesBusyError           too many request bodies are being received already (503)
     ├── AccessError               the request may not do what it asks (explainer_service.security)
     │    ├── UnauthorizedError        no valid bearer token, trusted header or link signature
     │    ├── LinkSignatureError       a signed link was altered
     │    │    └── LinkExpiredError        ... or its time has passed
     │    ├── CrossSiteError           a state-changing request sent by another site's page
     │    ├── UnsupportedMediaTypeError    a body type a foreign page can send unasked
     │    ├── UnsupportedEncodingError     a body compressed in a way the route does not read
     │    └── UntrustedHostError           a Host that service.allowed_hosts does not list
     ├── NotFoundError             no such explanation
     │    └── InferenceNotFoundError   no logged inference has that id
     ├── InferenceConflictError    a logged inference cannot be explained as asked (409)
     │    ├── InferenceIncompleteError     only the model's answer was logged, not the request
     │    └── ModelChangedError            the model no longer gives the logged answer (refuse)
     ├── ExtraMissingError         an extra the route needs is not installed (501)
     ├── NotReadyError             the explainers are still being fitted
     │    └── ShuttingDownError       the service stops: no new explanations (503, Retry-After)
     ├── QueueFullError            too many explanations wait already: try again later (429)
     │    └── RateLimitedError         more logged events per second than the sink takes
     ├── DeadlineExceededError     the explanation ran longer than its deadline and was stopped
     ├── WorkerError               an error raised in a worker process, as the worker answered it
     ├── WorkerCrashedError        the worker process died while running the explanation
     └── ModelError                calling the remote model failed (names the URL)
          ├── ModelUnavailableError    connection refused/reset or 503, after retries
          ├── ModelTimeoutError        no answer within ``timeout_s``
          ├── ModelResponseError       the model answered 4xx/5xx, or an answer HTTP cannot read
          └── ProtocolMismatchError    the answer is not in the configured protocol's shape

The explanation library's errors (``explainers.errors``: ``ParameterError`` and
``UnknownMethodError``, ``BudgetExceededError``, ``SchemaError`` and its kinds,
``ModelOutputError``) pass through the service unchanged. Foreign exceptions (httpx's,
sqlite3's, psycopg's) are mapped where they enter: in ``model_client`` and ``store``.

``TABLE`` is the one place where any of them becomes an HTTP status, a code, the code's
``detail`` and the message a client reads; ``problem_of`` looks an exception up by its
class's MRO, so a subclass not in the table is answered as its nearest parent. What it
gives is a ``Problem`` (code, message, detail): plain data that crosses a worker's pipe and
is kept in a failed row, whose status follows from its code. ``http_error`` makes the JSON
body ``{"error": {"code", "message", "detail", "request_id"}}`` (``ErrorBody``): 4xx for
what the caller can fix, 502/503/504 for the model and the store, 500 for the service's own
faults. An exception the table does not name is such a fault: its message says only
"internal error" and the request id (the log has the traceback).

A ``ModelError``'s message names the model's URL and quotes its answer, which may hold
internals of the model server; a ``StoreError``'s names the store: that is for the log.
Clients read ``public`` and a fixed sentence.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from explainer_service.observability import context
from explainers.errors import (
    BudgetExceededError,
    ModelOutputError,
    ParameterError,
    SchemaError,
    TextLimitError,
    UnknownCategoryError,
    UnknownMethodError,
    cut,
    escaped,
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


class StoreReplacedError(StoreError):
    """The SQLite store's file was deleted or replaced while the service had it open: what
    it writes would be lost (or not seen by the others sharing the path)."""


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


class EventError(ExplainerServiceError):
    """A request logger's CloudEvent cannot be read: an attribute is missing or wrong, its
    type is none the sink knows, or its encoding is not one it reads. ``field`` names the
    attribute (``type``, ``requestid``, ...) or ``body``."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooManyRowsError(ExplainerServiceError):
    """A logged event carries more rows than ``inference_log.max_rows_per_event``."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"the event carries {rows} rows; at most {limit} are logged from one event "
            "(inference_log.max_rows_per_event)"
        )
        self.rows = rows
        self.limit = limit


class RowCountConflictError(ExplainerServiceError):
    """One side of an inference was logged with ``stored`` rows, the other arrives with
    ``given``: they cannot be joined row by row, and this one is not kept."""

    def __init__(self, event_id: str, stored: int, given: int) -> None:
        super().__init__(
            f"event {event_id!r} was logged with {stored} row(s); this event has {given}: "
            "the request and its response must carry the same rows, so it is not kept"
        )
        self.event_id = event_id
        self.stored = stored
        self.given = given


class BodyTooLargeError(ExplainerServiceError):
    """The request body is larger than ``service.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class RequestTimeoutError(ExplainerServiceError):
    """A request's ``part`` (``headers`` or ``body``) did not arrive within ``timeout_s`` (the
    HTTP server answers it and closes the connection)."""

    def __init__(self, part: str, timeout_s: float) -> None:
        super().__init__(f"the request's {part} did not arrive within {timeout_s:g} s")
        self.part = part
        self.timeout_s = timeout_s


class HeadersTooLargeError(ExplainerServiceError):
    """A request's line and headers are longer than ``limit`` bytes, or hold more than
    ``limit`` fields (``unit``: ``bytes`` or ``fields``)."""

    def __init__(self, limit: int, unit: str) -> None:
        super().__init__(
            f"the request line and headers are longer than {limit} bytes"
            if unit == "bytes"
            else f"the request has more than {limit} header fields"
        )
        self.limit = limit
        self.unit = unit


class BodiesBusyError(ExplainerServiceError):
    """``limit`` request bodies are being received already; ``retry_after_s``: when to try
    again."""

    def __init__(self, limit: int, retry_after_s: int = 1) -> None:
        super().__init__(
            f"{limit} request bodies are being received already; try again in {retry_after_s} s"
        )
        self.limit = limit
        self.retry_after_s = retry_after_s


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


class UnsupportedEncodingError(AccessError):
    """A body compressed in a way the route does not read (``Content-Encoding``)."""

    def __init__(self, encoding: str) -> None:
        super().__init__(
            f"a body sent with Content-Encoding {encoding!r} is not read here; send it uncompressed"
        )
        self.encoding = encoding


class UntrustedHostError(AccessError):
    """A ``Host`` that ``service.allowed_hosts`` does not list (a page of another site,
    reaching the service through a DNS name it controls)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"the host {host!r} is not one this service answers for")
        self.host = host


class NotFoundError(ExplainerServiceError):
    """No explanation has that id."""


class InferenceNotFoundError(NotFoundError):
    """No logged inference has ``inference_id`` (never logged, or removed by retention)."""

    def __init__(self, inference_id: str) -> None:
        super().__init__(f"no logged inference with id {inference_id!r}")
        self.inference_id = inference_id


class InferenceConflictError(ExplainerServiceError):
    """The logged inference ``inference_id`` cannot be explained as asked."""

    def __init__(self, message: str, inference_id: str) -> None:
        super().__init__(message)
        self.inference_id = inference_id


class InferenceIncompleteError(InferenceConflictError):
    """Only the model's answer of the inference was logged: there is no row to explain."""

    def __init__(self, inference_id: str) -> None:
        super().__init__(
            f"inference {inference_id!r}: only the model's answer was logged, not the request "
            "(its features), so there is nothing to explain",
            inference_id,
        )


class ModelChangedError(InferenceConflictError):
    """The model, asked again, no longer gives the logged answer, and
    ``inference_log.on_model_changed`` is ``refuse``."""

    def __init__(
        self,
        inference_id: str,
        reason: str,
        logged: dict[str, Any] | None,
        live: dict[str, Any] | None,
    ) -> None:
        super().__init__(
            f"inference {inference_id!r} is not explained: {reason}; the model that made the "
            "decision is no longer the one answering (inference_log.on_model_changed: refuse)",
            inference_id,
        )
        self.logged = logged
        self.live = live


def install_hint(extra: str) -> str:
    """How to install ``explainer-service[extra]``: from PyPI once released, until then from
    a clone or the wheel ``make dist`` builds."""
    return (
        f"pip install 'explainer-service[{extra}]' (from a clone: pip install '.[{extra}]'; "
        f"from a wheel: pip install 'explainer_service-VERSION-py3-none-any.whl[{extra}]')"
    )


class ExtraMissingError(ExplainerServiceError):
    """What was asked needs packages this installation lacks: ``extra`` names the optional
    dependencies (``explainer-service[batch]``), ``missing`` the packages."""

    def __init__(self, extra: str, missing: list[str]) -> None:
        super().__init__(
            f"this needs the '{extra}' extra, which is not installed ({', '.join(missing)} "
            f"missing): {install_hint(extra)}"
        )
        self.extra = extra
        self.missing = missing


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


class RateLimitedError(QueueFullError):
    """The sink took ``inference_log.max_events_per_s`` events in the last second (its
    burst); ``retry_after_s``: when the next one is taken."""

    def __init__(self, rate: float, retry_after_s: int) -> None:
        ExplainerServiceError.__init__(
            self,
            f"more than {rate:g} logged events per second (inference_log.max_events_per_s); "
            f"try again in {retry_after_s} s",
        )
        self.waiting = 0
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
    """An error raised while a worker process explained, as the worker answered it.

    Exceptions do not always survive pickling (keyword-only arguments), so a worker sends
    its ``Problem`` and the service raises this; ``http_error`` answers it unchanged.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


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

    def named(self, model: str) -> ModelError:
        """This error (same class and details) with ``model``, which model failed (e.g.
        ``models.candidate (income, version 2)``), before its public message and its message."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.public = f"{model}: {self.public}"
        other.message = f"{model}: {self.message}"
        other.args = (other.message,)
        return other


class ModelUnavailableError(ModelError):
    """The model could not be reached, or said it is unavailable, after bounded retries."""


class ModelTimeoutError(ModelError):
    """The model did not answer within the configured timeout."""


class ModelResponseError(ModelError):
    """The model answered with an error status, or an answer HTTP cannot read (larger than
    allowed, or a body its ``Content-Encoding`` does not decode)."""


class ProtocolMismatchError(ModelError):
    """The model's answer is not in the shape the configured protocol promises."""


@dataclass(frozen=True)
class Problem:
    """What went wrong, as a client reads it; plain data, so it crosses a worker's pipe and
    is kept in a failed row. Its ``status`` follows from its ``code`` (``TABLE``)."""

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: str, message: str, detail: Mapping[str, Any] | None = None) -> Problem:
        """A problem made safe to send: the message ``escaped``, each detail as JSON can
        carry it (``_json_safe``). Everything a client sent reaches an answer through here."""
        safe = {key: _json_safe(value) for key, value in (detail or {}).items()}
        return cls(code, escaped(message), safe)

    @classmethod
    def from_record(cls, error: Mapping[str, Any]) -> Problem:
        """From a failed row's error (its ``status``, kept for readers, is derived again)."""
        return cls(str(error["code"]), str(error["message"]), dict(error.get("detail") or {}))

    @property
    def status(self) -> int:
        return status_of(self.code)

    def record(self) -> dict[str, Any]:
        """As a failed row keeps it: ``{"code", "message", "detail", "status"}``."""
        return {
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
            "status": self.status,
        }

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}``, with the current request's id inside a request."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "detail": self.detail}
        current = context.current()
        if current is not None:
            error["request_id"] = current
        return {"error": error}


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


def _own_message(exc: Any) -> str:
    return str(getattr(exc, "message", None) or exc)


def _no_detail(exc: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    """How one class of exception is answered: ``detail(exc)`` and ``message(exc)`` say
    what a client may read of it."""

    status: int
    code: str
    detail: Callable[[Any], dict[str, Any]] = _no_detail
    message: Callable[[Any], str] = _own_message


def _field(exc: Any) -> dict[str, Any]:
    return {"field": exc.field}


def _parameter(exc: Any) -> dict[str, Any]:
    return {"field": exc.field, "method": exc.method}


def _budget(exc: BudgetExceededError) -> dict[str, Any]:
    spent = "estimate" if exc.estimated else "used"
    return {"budget": exc.budget, "limit": exc.limit, spent: exc.used, "parameters": exc.parameters}


def _retry(exc: Any) -> dict[str, Any]:
    return {"retry_after_s": exc.retry_after_s}


def _model(exc: Any) -> dict[str, Any]:
    return {"status": exc.status}


def _answer(prefix: str, answer: dict[str, Any] | None) -> dict[str, Any]:
    """An answer of the inference log (``{"scores": [...]}``, ``{"label"}``, ``{"value"}``)
    as flat details (``logged_scores``, ...): details carry no nested objects."""
    return {f"{prefix}_{key}": value for key, value in (answer or {}).items()}


def _public(exc: Any) -> str:
    return str(exc.public)


#: Every exception the service answers with its own status and code, by class; a subclass
#: not named here is answered as its nearest parent that is (``rule_of``).
TABLE: dict[type[Exception], Rule] = {
    PayloadError: Rule(422, "invalid_payload", _field),
    MalformedJsonError: Rule(400, "malformed_json", _field),
    SchemaError: Rule(422, "invalid_instance", lambda e: {"field": e.feature}),
    UnknownCategoryError: Rule(
        422, "unknown_category", lambda e: {"field": e.feature, "value": e.value, "valid": e.valid}
    ),
    TextLimitError: Rule(
        422, "text_too_long", lambda e: {"field": e.feature, "limit": e.limit, "max": e.maximum}
    ),
    ParameterError: Rule(422, "invalid_parameter", _parameter),
    UnknownMethodError: Rule(422, "unknown_method", _parameter),
    BudgetExceededError: Rule(422, "budget_exceeded", _budget),
    EventError: Rule(400, "invalid_event", _field),
    TooManyRowsError: Rule(413, "too_many_rows", lambda e: {"rows": e.rows, "limit": e.limit}),
    RowCountConflictError: Rule(
        409, "row_count_conflict", lambda e: {"stored": e.stored, "given": e.given}
    ),
    BodyTooLargeError: Rule(413, "body_too_large", lambda e: {"limit": e.limit}),
    RequestTimeoutError: Rule(
        408, "request_timeout", lambda e: {"part": e.part, "timeout_s": e.timeout_s}
    ),
    HeadersTooLargeError: Rule(
        431, "headers_too_large", lambda e: {"limit": e.limit, "unit": e.unit}
    ),
    BodiesBusyError: Rule(
        503, "busy", lambda e: {"limit": e.limit, "retry_after_s": e.retry_after_s}
    ),
    AccessError: Rule(403, "forbidden"),
    UnauthorizedError: Rule(401, "unauthorized"),
    LinkExpiredError: Rule(403, "link_expired"),
    CrossSiteError: Rule(403, "cross_site"),
    UnsupportedMediaTypeError: Rule(
        415, "unsupported_media_type", lambda e: {"content_type": e.content_type}
    ),
    UnsupportedEncodingError: Rule(
        415, "unsupported_encoding", lambda e: {"content_encoding": e.encoding}
    ),
    UntrustedHostError: Rule(400, "untrusted_host", lambda e: {"host": e.host}),
    NotFoundError: Rule(404, "not_found"),
    InferenceNotFoundError: Rule(
        404, "inference_not_found", lambda e: {"inference_id": e.inference_id}
    ),
    InferenceConflictError: Rule(
        409, "inference_conflict", lambda e: {"inference_id": e.inference_id}
    ),
    InferenceIncompleteError: Rule(
        409, "inference_incomplete", lambda e: {"inference_id": e.inference_id}
    ),
    ModelChangedError: Rule(
        409,
        "model_changed",
        lambda e: {
            "inference_id": e.inference_id,
            **_answer("logged", e.logged),
            **_answer("live", e.live),
        },
    ),
    ExtraMissingError: Rule(
        501, "extra_missing", lambda e: {"extra": e.extra, "missing": ", ".join(e.missing)}
    ),
    NotReadyError: Rule(503, "not_ready"),
    ShuttingDownError: Rule(503, "shutting_down", _retry),
    QueueFullError: Rule(
        429, "queue_full", lambda e: {"waiting": e.waiting, "retry_after_s": e.retry_after_s}
    ),
    RateLimitedError: Rule(429, "rate_limited", _retry),
    DeadlineExceededError: Rule(504, "deadline_exceeded", lambda e: {"deadline_s": e.deadline_s}),
    WorkerCrashedError: Rule(
        500, "worker_crashed", lambda e: {"worker": e.worker, "exit_code": e.exit_code}
    ),
    ModelError: Rule(502, "model_error", _model, _public),
    ModelUnavailableError: Rule(503, "model_unavailable", _model, _public),
    ModelTimeoutError: Rule(504, "model_timeout", _model, _public),
    ProtocolMismatchError: Rule(502, "protocol_mismatch", _model, _public),
    ModelOutputError: Rule(502, "model_output"),
    StoreError: Rule(
        503,
        "store_unavailable",
        message=lambda e: "the explanation store is unavailable; try again later",
    ),
}

#: The code of an exception ``TABLE`` does not name: the service's own fault.
INTERNAL = "internal"

_STATUS = {rule.code: rule.status for rule in TABLE.values()}

#: The exceptions the app's handlers answer: the table's, and a worker's answer. Anything
#: else is an internal error, logged with its traceback where it is caught.
HANDLED: tuple[type[Exception], ...] = (*TABLE, WorkerError)


def rule_of(exc: BaseException) -> Rule | None:
    """The rule of ``exc``'s class or of its nearest parent in ``TABLE``; None for an
    exception it does not name."""
    for cls in type(exc).__mro__:
        rule = TABLE.get(cls)
        if rule is not None:
            return rule
    return None


def status_of(code: str) -> int:
    """The HTTP status of an error code (500 for ``internal`` and codes ``TABLE`` lacks)."""
    return _STATUS.get(code, 500)


def problem_of(exc: BaseException) -> Problem:
    """What a client may read of ``exc``. A ``WorkerError`` is what the worker answered; an
    exception ``TABLE`` does not name says only "internal error" and the request id."""
    if isinstance(exc, WorkerError):
        problem = exc.problem
    else:
        rule = rule_of(exc)
        if rule is None:
            problem = Problem(INTERNAL, "")
        else:
            problem = Problem.of(rule.code, rule.message(exc), rule.detail(exc))
    if problem.code == INTERNAL:
        rid = context.current()
        message = f"internal error (request id {rid})" if rid else "internal error"
        return Problem(INTERNAL, message)
    return problem


def http_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, body) for any exception (see ``problem_of``); inside a request the body
    carries its id."""
    problem = problem_of(exc)
    return problem.status, problem.body()


def error_body(code: str, message: str, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"error": {...}}`` of an error no exception of ours stands for (the framework's),
    made safe as ``Problem.of`` does."""
    return Problem.of(code, message, detail).body()


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it, short: NaN and infinities (JSON parsers accept them
    from a caller), long text and numbers, objects, as their cut repr; text with a lone
    surrogate, escaped."""
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
