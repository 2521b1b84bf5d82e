"""Connections bounded in time and number: uvicorn's httptools protocol with deadlines.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``); a client that
opens connections and never finishes a request's headers, or never finishes its body, holds
them (and their file descriptors and buffers) for good. ``guarded_protocol`` builds the
protocol class ``serve`` hands uvicorn, which adds, per connection and server-wide:

- a header deadline (``header_timeout_s``) from the connection opening, or from the first
  byte of a later request on a kept-alive connection, to the end of the headers: past it the
  connection is closed, with a 408 when part of a request had arrived;
- a body deadline (``body_timeout_s``) from the end of the headers to the end of the body:
  past it, a 408 when nothing was answered yet, and the connection is closed;
- a header size and count limit (431, then closed);
- at most ``max_bodies`` bodies being received at once: a request with a body beyond it
  waits up to ``BODY_WAIT_S`` for a slot (or for its body, if it came with the headers), then
  is answered 503 ``busy`` with ``Retry-After`` without reading the body;
- at most ``connection_cap`` open connections: a new one beyond it displaces the oldest
  connection that has no request in progress (waiting for headers, or idle between
  requests), or is closed at once when every connection has a request in progress. So a
  flood of connections that send nothing useful cannot keep a probe out, and the process
  never reaches its open-file limit (where the accept loop would drop every new connection).

Closed connections are logged at INFO, the first at once and the rest as one line per
``LOG_WINDOW_S``.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from explainer_service.errors import (
    BodiesBusyError,
    ExplainerServiceError,
    HeadersTooLargeError,
    RequestTimeoutError,
    http_error,
)
from explainer_service.settings import ServiceSettings

log = logging.getLogger("explainer_service")

#: File descriptors kept for the process's own use (store, pipes to workers, model client,
#: logs) when the connection cap is lowered to the open-file limit.
RESERVED_FDS = 64
#: Why a connection was closed (the ``reason`` of ``on_closed``), as the log says it.
REASONS = {
    "idle_timeout": "nothing received in time",
    "header_timeout": "headers not received in time",
    "body_timeout": "body not received in time",
    "headers_too_large": "headers too large",
    "busy": "too many bodies being received at once",
    "displaced": "displaced by a new connection beyond service.max_connections",
    "refused": "beyond service.max_connections, every connection with a request in progress",
}
#: How long a request with a body waits for one of ``max_bodies`` slots before 503 ``busy``.
BODY_WAIT_S = 1.0
#: How long a connection answered with an error (408, 431) may still send before it is closed.
LINGER_S = 2.0
#: Closed connections are logged at most once per this long (the first at once).
LOG_WINDOW_S = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What ``guarded_protocol`` enforces; ``of(settings)`` reads ``service``'s settings."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_bodies: int
    max_header_bytes: int
    max_headers: int

    @classmethod
    def of(cls, settings: ServiceSettings) -> ConnectionLimits:
        """Logs the connection cap when the open-file limit lowers it."""
        cap = connection_cap(settings.max_connections)
        if cap < settings.max_connections:
            log.info(
                "at most %d open connections: the open-file limit leaves no room for "
                "service.max_connections (%d)",
                cap,
                settings.max_connections,
            )
        return cls(
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            max_connections=cap,
            max_bodies=settings.max_bodies,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
        )


def connection_cap(configured: int) -> int:
    """``configured``, lowered to the process's open-file limit less ``RESERVED_FDS``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(min(configured, soft - RESERVED_FDS), 1)


class _Tally:
    """Counts closed connections by reason (a key of ``REASONS``), tells ``on_closed``, and
    logs them at INFO: the first at once, those that follow within ``LOG_WINDOW_S`` in one
    line when the window ends."""

    def __init__(self, on_closed: Callable[[str], None]) -> None:
        self.on_closed = on_closed
        self.pending: Counter[str] = Counter()
        self.flush: asyncio.TimerHandle | None = None

    def closed(self, loop: asyncio.AbstractEventLoop, reason: str) -> None:
        self.on_closed(reason)
        if self.flush is None:
            log.info("closed a connection: %s", REASONS[reason])
            self.flush = loop.call_later(LOG_WINDOW_S, self._flush)
        else:
            self.pending[reason] += 1

    def _flush(self) -> None:
        self.flush = None
        if self.pending:
            counts = "; ".join(f"{REASONS[r]}: {n}" for r, n in sorted(self.pending.items()))
            log.info("closed %d more connections: %s", self.pending.total(), counts)
            self.pending.clear()


class _HeadersTooLarge(Exception):
    """Raised from a parser callback; ``data_received`` answers it with a 431."""

    def __init__(self, error: HeadersTooLargeError) -> None:
        super().__init__(error.message)
        self.error = error


def _raw_answer(error: ExplainerServiceError, *headers: tuple[str, str]) -> bytes:
    """An HTTP/1.1 answer to ``error`` (its status and JSON body), closing the connection."""
    status, body = http_error(error)
    data = json.dumps(body).encode()
    phrase = http.HTTPStatus(status).phrase
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "content-type: application/json",
        f"content-length: {len(data)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def _busy_app(limit: int) -> ASGI3Application:
    """An ASGI app answering 503 ``busy`` with ``Retry-After``, leaving the body unread."""
    error = BodiesBusyError(limit)
    status, body = http_error(error)
    data = json.dumps(body).encode()

    async def busy(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"retry-after", str(error.retry_after_s).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data, "more_body": False})

    return busy


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``limits`` (a subclass per server sets them)."""

    limits: ClassVar[ConnectionLimits]
    #: Connections with no request in progress, oldest first: those a new one may displace.
    idle: ClassVar[dict[GuardedProtocol, None]]
    #: Connections whose request's body is being received.
    receiving: ClassVar[set[GuardedProtocol]]
    tally: ClassVar[_Tally]
    #: Connections open now.
    open: ClassVar[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._started = False  # a byte of the current request has arrived
        self._head_bytes = 0  # of the current request, until its headers are complete
        self._header_count = 0
        self._header_size = 0  # the request line's target and the header fields parsed
        self._busy = False  # the current request waits for a slot: too many bodies
        self._body_done = False  # the current request's body has arrived
        self._lingering = False  # answered: what arrives is dropped until the close
        self._close_at: asyncio.TimerHandle | None = None

    # the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        type(self).open += 1
        self.idle[self] = None
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_late)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        oldest = next((c for c in self.idle if c is not self), None)
        if oldest is None:
            self._close("refused")
        else:
            oldest._close("displaced")

    def connection_lost(self, exc: Exception | None) -> None:
        type(self).open -= 1
        self._stop_timers()
        if self._close_at is not None:
            self._close_at.cancel()
        self.idle.pop(self, None)
        self.receiving.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, answering ``_HeadersTooLarge`` and a head longer than the limit."""
        if self._lingering:
            return
        self._unset_keepalive_if_required()
        if not self._head_done():
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._answer_and_close(exc.__context__.error, "headers_too_large")
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not self._head_done() and self._head_bytes > self.limits.max_header_bytes:
            error = HeadersTooLargeError(self.limits.max_header_bytes, "bytes")
            self._answer_and_close(error, "headers_too_large")

    # the parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = True
        self._header_count = 0
        self._header_size = 0
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_late)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise _HeadersTooLarge(HeadersTooLargeError(self.limits.max_headers, "fields"))
        self._count_head(len(name) + len(value) + 4)  # with ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._header_size += size
        if self._header_size > self.limits.max_header_bytes:
            raise _HeadersTooLarge(HeadersTooLargeError(self.limits.max_header_bytes, "bytes"))

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self.idle.pop(self, None)
        self._head_bytes = 0
        self._body_done = False
        if _has_body(self.headers):
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_late)
            if len(self.receiving) >= self.limits.max_bodies:
                self._busy = True
            else:
                self.receiving.add(self)
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        if self._busy:
            self._busy = False
            app = self._admitted(app)
        super()._start_asgi_task(cycle, app)

    def _admitted(self, app: ASGI3Application) -> ASGI3Application:
        """``app`` once a body slot is free or the body has arrived (what came with the
        headers is parsed before this runs); after ``BODY_WAIT_S``, 503 ``busy``."""

        async def admitted(
            scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
        ) -> None:
            waited = 0.0
            while not self._body_done and len(self.receiving) >= self.limits.max_bodies:
                if waited >= BODY_WAIT_S or self.transport.is_closing():
                    self._closed("busy")
                    await _busy_app(self.limits.max_bodies)(scope, receive, send)
                    return
                await asyncio.sleep(0.05)
                waited += 0.05
            if not self._body_done:
                self.receiving.add(self)
            await app(scope, receive, send)

        return admitted

    def on_message_complete(self) -> None:
        self._body_done = True
        self._cancel_body_timer()
        self.receiving.discard(self)
        self._started = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.receiving.discard(self)  # what is left of an unread body is dropped as it comes
        super().on_response_complete()
        if not self.transport.is_closing() and not self._started:
            self.idle[self] = None

    # the deadlines

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._started:
            error = RequestTimeoutError("headers", self.limits.header_timeout_s)
            self._answer_and_close(error, "header_timeout")
        else:  # nothing sent since the connection opened
            self._close("idle_timeout")

    def _body_late(self) -> None:
        self._body_timer = None
        self.receiving.discard(self)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            cycle.keep_alive = False  # closed once the answer is written
            return
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app reads a disconnect, its answer goes nowhere
            cycle.message_event.set()
            error = RequestTimeoutError("body", self.limits.body_timeout_s)
            self._answer_and_close(error, "body_timeout")
        else:
            self._close("body_timeout")

    def _answer_and_close(self, error: ExplainerServiceError, reason: str) -> None:
        """Answers ``error`` and closes the connection after at most ``LINGER_S``, reading
        and dropping what the client still sends meanwhile: a client still sending its
        request reads the answer rather than a reset."""
        self.transport.write(_raw_answer(error))
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._closed(reason)
        self._close_at = self.loop.call_later(LINGER_S, self.transport.close)
        self._stop_timers()
        self.idle.pop(self, None)
        self.receiving.discard(self)

    def _close(self, reason: str) -> None:
        if self.transport.is_closing():
            return
        self._closed(reason)
        self._stop_timers()
        self.idle.pop(self, None)
        self.receiving.discard(self)
        self.transport.close()

    def _closed(self, reason: str) -> None:
        self.tally.closed(self.loop, reason)

    def _head_done(self) -> bool:
        return self._started and self._head_timer is None

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _stop_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()


def guarded_protocol(
    limits: ConnectionLimits, on_closed: Callable[[str], None] = lambda reason: None
) -> type[GuardedProtocol]:
    """A ``GuardedProtocol`` class of its own (its own counts) enforcing ``limits``;
    ``on_closed(reason)`` is called for each connection closed or refused (``REASONS``)."""
    return type(
        "GuardedProtocol",
        (GuardedProtocol,),
        {
            "limits": limits,
            "idle": {},
            "receiving": set(),
            "tally": _Tally(on_closed),
            "open": 0,
        },
    )
