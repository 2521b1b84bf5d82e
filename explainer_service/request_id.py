"""Request ids: one per HTTP request, on its answer, in its error body and in its logs.

``RequestIds`` (pure ASGI, the outermost middleware) takes the caller's ``X-Request-ID``
when it is short and plain (``[A-Za-z0-9._-]{1,64}``), else makes a random one; it holds it
in a context variable for the request's handlers (``current()``) and log records
(``RequestIdFilter``), puts it on every answer and logs the request once when it ends
(``logs.request_done``: method, path without the query, status, seconds). The id and the
caller's W3C ``traceparent`` (when well formed) go with every call to the model
(``forwarded()``). It is also where an unexpected exception ends: logged once, with its
traceback and the id, and answered by ``on_error``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explainer_service import logs

HEADER = "X-Request-ID"
#: W3C Trace Context: forwarded to the model as the caller sent it, when well formed
TRACEPARENT = "traceparent"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)
_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)

log = logging.getLogger("explainer_service")


def current() -> str | None:
    """The id of the request being handled, or None outside one."""
    return _current.get()


def current_traceparent() -> str | None:
    """The caller's ``traceparent`` header of the request being handled, if well formed."""
    return _traceparent.get()


def forwarded() -> dict[str, str]:
    """The headers every call to the model carries for the current request: its id and the
    caller's ``traceparent`` (an allow-list: nothing else of the caller's reaches the model)."""
    headers = {}
    if (value := _current.get()) is not None:
        headers[HEADER] = value
    if (parent := _traceparent.get()) is not None:
        headers[TRACEPARENT] = parent
    return headers


@contextmanager
def bound(value: str | None, traceparent: str | None = None) -> Iterator[None]:
    """``current()`` is ``value`` and ``current_traceparent()`` is ``traceparent`` inside
    (a request being handled, or a worker running its task)."""
    token = _current.set(value)
    parent = _traceparent.set(traceparent)
    try:
        yield
    finally:
        _traceparent.reset(parent)
        _current.reset(token)


def new_id() -> str:
    return secrets.token_hex(8)


def accepted(value: str | None) -> str | None:
    """``value`` when it may be used as a request id as it is (it reaches logs and headers)."""
    return value if value is not None and _SAFE.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute (``-`` outside a request), for formats
    such as ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


class RequestIds:
    """Assigns each HTTP request its id (see the module docstring).

    ``on_error(scope, exc)`` builds the answer to an exception that nothing else handled,
    while the id is still current. After the answer has started nothing can be sent any
    more; the exception is then only logged.
    """

    def __init__(self, app: ASGIApp, on_error: Callable[[Scope, Exception], Response]) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(HEADER.lower().encode(), b"")
        request_id = accepted(incoming.decode("latin-1")) or new_id()
        parent = headers.get(TRACEPARENT.encode(), b"").decode("latin-1").strip().lower()
        traceparent = parent if _TRACEPARENT.fullmatch(parent) else None
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with bound(request_id, traceparent):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                log.exception(
                    "unexpected error on %s %s (request id %s)",
                    scope.get("method"),
                    scope.get("path"),
                    request_id,
                )
                if not started:
                    await self.on_error(scope, exc)(scope, receive, send_with_id)
            finally:
                logs.request_done(
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status,
                    time.perf_counter() - began,
                    request_id,
                )
