"""The access log: each HTTP request gets its id, and is logged once when it ends.

``RequestIds`` (pure ASGI, the outermost middleware) takes the caller's ``X-Request-ID``
when it is short and plain (``[A-Za-z0-9._-]{1,64}``), else makes a random one; it holds it
in the request context (``context.bound``) for the request's handlers and log records,
puts it on every answer and logs the request once when it ends (``logs.request_done``:
method, path without the query, status, seconds). It is also where an unexpected exception
ends: logged once, with its traceback and the id, and answered by ``on_error``.

A client that goes away before it has sent its whole body (Starlette's
``ClientDisconnect``) is no fault of the service: nothing is answered, and the request is
logged with status 499 (nginx's "client closed request").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explainer_service.observability import logs
from explainer_service.observability.context import (
    HEADER,
    TRACEPARENT,
    TRACEPARENT_FORM,
    accepted,
    bound,
    new_id,
)

log = logging.getLogger("explainer_service")

#: The status a request is logged with when its client went away before sending its body.
CLIENT_CLOSED = 499


class RequestIds:
    """Assigns each HTTP request its id (see the module docstring).

    ``on_error(scope, exc)`` builds the answer to an exception that nothing else handled,
    while the id is still current. After the answer has started nothing can be sent any
    more; the exception is then only logged. ``on_done(status)`` is told the status of
    every request as it is logged (e.g. ``Metrics.answered``).
    """

    def __init__(
        self,
        app: ASGIApp,
        on_error: Callable[[Scope, Exception], Response],
        on_done: Callable[[int], None] | None = None,
    ) -> None:
        self.app = app
        self.on_error = on_error
        self.on_done = on_done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(HEADER.lower().encode(), b"")
        request_id = accepted(incoming.decode("latin-1")) or new_id()
        parent = headers.get(TRACEPARENT.encode(), b"").decode("latin-1").strip().lower()
        traceparent = parent if TRACEPARENT_FORM.fullmatch(parent) else None
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
            except ClientDisconnect:
                status = CLIENT_CLOSED  # nobody to answer; the record below says so
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
                if self.on_done is not None:
                    self.on_done(status)
