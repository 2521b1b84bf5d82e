"""``GuardedProtocol`` driven in-process with stand-in transports: which connection a new one
displaces, the deadlines' answers, the header limits, the bodies at once. The same limits
against a real server and real sockets: tests/integration/test_slow_clients.py."""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from explainer_service.security import connections
from explainer_service.security.connections import (
    ConnectionLimits,
    GuardedProtocol,
    connection_cap,
    guarded_protocol,
)

LIMITS = ConnectionLimits(
    header_timeout_s=0.2,
    body_timeout_s=0.3,
    max_connections=3,
    max_bodies=1,
    max_header_bytes=2048,
    max_headers=10,
)
GET = b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n"
POST_HEAD = b"POST /explain HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n"


class Transport(asyncio.Transport):
    """What the protocol wrote, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def status(self) -> int | None:
        """The status of the first answer written, if any."""
        return int(self.written.split()[1]) if self.written else None

    def error(self) -> dict[str, Any]:
        return dict(json.loads(self.written.partition(b"\r\n\r\n")[2])["error"])


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


class Server:
    """Connections of one guarded protocol class, on the running loop."""

    def __init__(self, limits: ConnectionLimits = LIMITS) -> None:
        self.config = uvicorn.Config(_app, log_level="warning", lifespan="off")
        self.config.load()
        self.state = ServerState()
        self.closed: list[str] = []  # the reasons, as on_closed heard them
        self.protocol = guarded_protocol(limits, self.closed.append)

    def connect(self, data: bytes = b"") -> tuple[GuardedProtocol, Transport]:
        protocol = self.protocol(config=self.config, server_state=self.state, app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)
        return protocol, transport


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_a_connection_beyond_the_cap_displaces_the_oldest_idle_one() -> None:
    async def test() -> None:
        server = Server()
        _, idle = server.connect(b"GET /health/live HTTP/1.1\r\n")  # headers unfinished
        _, busy = server.connect(POST_HEAD)  # a request in progress: its body is awaited
        _, later = server.connect()
        _, new = server.connect()
        assert idle.closed and not busy.closed and not later.closed and not new.closed
        assert server.closed == ["displaced"] and server.protocol.open == 4

    _run(test)


def test_a_connection_beyond_the_cap_is_closed_when_none_is_idle() -> None:
    async def test() -> None:
        server = Server(LIMITS.__class__(**{**LIMITS.__dict__, "max_bodies": 10}))
        olds = [server.connect(POST_HEAD)[1] for _ in range(3)]
        _, new = server.connect()
        assert new.closed and not any(t.closed for t in olds)
        assert server.closed == ["refused"]

    _run(test)


def test_unfinished_headers_get_408_and_a_silent_connection_is_closed() -> None:
    async def test() -> None:
        server = Server()
        _, partial = server.connect(b"GET /health/live HTTP/1.1\r\nHost: te")
        _, silent = server.connect()
        _, served = server.connect(GET)
        await asyncio.sleep(LIMITS.header_timeout_s * 3)
        assert partial.status() == 408 and partial.eof
        assert partial.error()["detail"] == {"part": "headers", "timeout_s": 0.2}
        assert silent.closed and silent.written == b""
        assert served.status() == 200 and not served.closed
        assert sorted(server.closed) == ["header_timeout", "idle_timeout"]

    _run(test)


def test_a_body_that_stalls_gets_408_and_one_beyond_max_bodies_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections, "BODY_WAIT_S", 0.1)

    async def test() -> None:
        server = Server()
        _, stalled = server.connect(POST_HEAD + b"x" * 10)
        _, refused = server.connect(POST_HEAD)  # waits for a slot, in vain
        _, whole = server.connect(POST_HEAD + b"x" * 100)  # came with its headers: no slot
        await asyncio.sleep(0.2)
        assert refused.status() == 503 and b"retry-after: 1" in refused.written
        assert refused.error()["code"] == "busy"
        assert whole.status() == 200
        await asyncio.sleep(LIMITS.body_timeout_s * 3)
        assert stalled.status() == 408 and stalled.error()["detail"]["part"] == "body"
        assert sorted(server.closed) == ["body_timeout", "busy"]
        next_one, _ = server.connect(POST_HEAD)  # the slot is free again
        assert server.protocol.receiving == {next_one}

    _run(test)


def test_a_body_waiting_for_a_slot_gets_it_when_one_frees() -> None:
    async def test() -> None:
        server = Server()
        first, _ = server.connect(POST_HEAD + b"x" * 10)
        _, waiting = server.connect(POST_HEAD + b"x" * 10)
        await asyncio.sleep(0.1)
        first.data_received(b"x" * 90)  # the first body ends: its slot is free
        await asyncio.sleep(0.1)
        assert waiting.status() is None  # admitted, not refused; its body is still awaited
        assert len(server.protocol.receiving) == 1 and first not in server.protocol.receiving

    _run(test)


@pytest.mark.parametrize(
    ("head", "unit"),
    [
        (b"X-Long: " + b"a" * 3000 + b"\r\n", "bytes"),
        (b"X-Long: " + b"a" * 3000, "bytes"),  # unfinished: counted as it arrives
        # each field is short, together they are not; the head is complete
        (b"".join(b"X-%d: %s\r\n" % (n, b"a" * 300) for n in range(8)) + b"\r\n", "bytes"),
        (b"".join(b"X-%d: 1\r\n" % n for n in range(11)), "fields"),
    ],
)
def test_too_long_or_too_many_headers_get_431(head: bytes, unit: str) -> None:
    async def test() -> None:
        server = Server()
        _, transport = server.connect(b"GET / HTTP/1.1\r\nHost: test\r\n" + head)
        assert transport.status() == 431 and transport.eof
        limit = LIMITS.max_header_bytes if unit == "bytes" else LIMITS.max_headers
        assert transport.error()["detail"] == {"limit": limit, "unit": unit}

    _run(test)


def test_the_cap_is_lowered_to_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 4096))
    assert connection_cap(1000) == 256 - connections.RESERVED_FDS
    assert connection_cap(100) == 100
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY,) * 2)
    assert connection_cap(1000) == 1000


def test_a_later_request_on_a_kept_alive_connection_has_its_own_header_deadline() -> None:
    async def test() -> None:
        server = Server()
        protocol, transport = server.connect(GET)
        await asyncio.sleep(LIMITS.header_timeout_s * 2)  # idle: uvicorn's keep-alive (5 s)
        assert transport.status() == 200 and not transport.closed
        transport.written = b""
        protocol.data_received(b"GET /health/live HTTP/1.1\r\nHo")
        await asyncio.sleep(LIMITS.header_timeout_s * 3)
        assert transport.status() == 408 and server.closed == ["header_timeout"]

    _run(test)
