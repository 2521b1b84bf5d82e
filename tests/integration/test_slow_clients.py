"""Clients that hold connections open, against a real ``explainer-service serve`` process.

- 1,000 connections that send a request line and an unfinished header, then nothing, and 50
  chunked request bodies (half with a token, half without) that stall after a few MiB: after
  the header and body deadlines every one is closed by the service, ``/health/live``
  answered every poll meanwhile (polled every 100 ms on a new connection, as a kubelet
  does; the worst latency is reported, not asserted), and the service's file descriptors and
  resident memory come back to where they were. Once as configured, once under an open-file
  limit of 256 (where the connection cap is lowered to fit).
- A request line and headers longer than ``service.max_header_bytes``, or with more fields
  than ``service.max_headers``: 431 with the usual JSON error, then the connection closed.

The numbers go to test-output/slow-clients.md. No timing is asserted: waits poll with
generous limits, for loaded machines.
"""

from __future__ import annotations

import contextlib
import json
import resource
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import ServerProcess, explainer_service
from tests.helpers.web import HTTP
from tests.integration.test_overload import usage
from tests.integration.test_service import config

pytestmark = pytest.mark.integration

LIMIT_S = 180.0
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
SLOW_HEADERS = 1000
STALLED_BODIES = 50
STALLED_BYTES = 3 * 1024 * 1024
TOKEN = "slow-clients-token-0123456789abcdef"
#: Open file descriptors and resident memory may end this far above where they started: the
#: allocator keeps some of the pages the bodies used (measured: 3 to 31 MiB; before the
#: deadlines, every body stayed in memory for as long as its client wanted).
FD_MARGIN = 8
RSS_MARGIN_KIB = 64 * 1024
#: How long the file descriptors and memory get to come back.
SETTLE_S = 60.0


@dataclass
class Probes:
    """``/health/live`` asked every 100 ms on a new connection, in a thread, until stopped."""

    base: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                status = HTTP.get(self.base + "/health/live", timeout=60).status_code
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
            self.latencies.append(time.monotonic() - started)
            self.stop.wait(0.1)


@pytest.fixture
def probes() -> Iterator[Callable[[str], Probes]]:
    running: list[tuple[Probes, threading.Thread]] = []

    def start(base: str) -> Probes:
        probe = Probes(base)
        thread = threading.Thread(target=probe.run, daemon=True)
        thread.start()
        running.append((probe, thread))
        return probe

    yield start
    for probe, thread in running:
        probe.stop.set()
        thread.join(120)


def _service(
    income_server: str,
    tmp_path: Path,
    output_dir: Path,
    name: str,
    preexec: Callable[[], None] | None = None,
    **service: object,
) -> tuple[ServerProcess, str]:
    settings = config(
        income_server + "/v2/models/income/infer",
        tmp_path / "store.sqlite",
        header_timeout_s=HEADER_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
        **service,
    )
    settings["auth"] = {"tokens": [TOKEN]}
    log = output_dir / f"service-slow-clients-{name}.log"
    return explainer_service(settings, tmp_path, log, log_level="info", preexec=preexec)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _slow_header(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def _stalled_body(port: int, token: str | None) -> socket.socket:
    """A chunked ``POST /explain`` that sends ``STALLED_BYTES`` of its body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        "POST /explain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{auth}\r\n"
    )
    chunk = b'{"instances": [' + b" " * (STALLED_BYTES - 15)
    # refused (503 busy) and closed while sending: what the service sent is read later
    with contextlib.suppress(OSError):
        sock.sendall(head.encode() + b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    return sock


def _until_closed(socks: list[socket.socket]) -> list[bytes]:
    """What the service sent on each socket, once it closed every one (EOF or reset)."""
    received = {sock: b"" for sock in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + LIMIT_S
    open_ = set(socks)
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if data:
                received[sock] += data
            else:
                selector.unregister(sock)
                open_.discard(sock)
    selector.close()
    for sock in socks:
        sock.close()
    assert not open_, f"{len(open_)} of {len(socks)} connections still open after {LIMIT_S} s"
    return [received[sock] for sock in socks]


def _status(answer: bytes) -> str:
    """The first answer's status (or ``closed`` when none came), then a later one's."""
    if not answer:
        return "closed"
    lines = answer.split(b"\r\n")
    return " ".join(line.split()[1].decode() for line in lines if line[:5] == b"HTTP/")


def _settled(pid: int, before: dict[str, int]) -> dict[str, int]:
    """The service's usage once its file descriptors and memory are back within the
    margins of ``before``, or after ``SETTLE_S``."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        now = usage(pid)
        back = now["fds"] <= before["fds"] + FD_MARGIN
        if back and now["rss_kib"] <= before["rss_kib"] + RSS_MARGIN_KIB:
            return now
        if time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def _report(output_dir: Path, name: str, lines: dict[str, object]) -> None:
    path = output_dir / "slow-clients.md"
    text = path.read_text() if path.exists() else "# Slow clients (test_slow_clients.py)\n"
    text += f"\n## {name}\n\n" + "".join(f"- {key}: {value}\n" for key, value in lines.items())
    path.write_text(text)


def _attack(
    process: ServerProcess, base: str, probes: Callable[[str], Probes], output_dir: Path, name: str
) -> None:
    port = _port(base)
    pid = process.process.pid
    for _ in range(5):  # warm up what the first requests build
        assert HTTP.get(base + "/health/live", timeout=60).status_code == 200
    before = usage(pid)
    probe = probes(base)
    started = time.monotonic()

    slow = [_slow_header(port) for _ in range(SLOW_HEADERS)]
    bodies = [_stalled_body(port, TOKEN if n % 2 == 0 else None) for n in range(STALLED_BODIES)]
    during = usage(pid)
    slow_answers = _until_closed(slow)
    body_answers = _until_closed(bodies)
    closed_s = time.monotonic() - started
    probe.stop.set()

    after = _settled(pid, before)
    slow_seen = Counter(_status(a) for a in slow_answers)
    bodies_seen = Counter(_status(a) for a in body_answers)
    _report(
        output_dir,
        name,
        {
            "every connection closed after (s)": f"{closed_s:.1f}",
            "unfinished headers, what they read": dict(slow_seen),
            "stalled bodies, what they read": dict(bodies_seen),
            "/health/live polls": len(probe.latencies),
            "/health/live worst latency (s)": f"{max(probe.latencies):.3f}",
            "/health/live failures": len(probe.failures),
            "fds before / during / after": f"{before['fds']} / {during['fds']} / {after['fds']}",
            "RSS MiB before / during / after": " / ".join(
                f"{u['rss_kib'] / 1024:.0f}" for u in (before, during, after)
            ),
        },
    )
    assert after["fds"] <= before["fds"] + FD_MARGIN, (before, after)
    assert after["rss_kib"] <= before["rss_kib"] + RSS_MARGIN_KIB, (before, after)
    assert probe.failures == [], probe.failures[:5]
    assert probe.latencies, "no /health/live poll finished"
    # a connection is answered 408 when part of its request came, or closed (displaced)
    assert set(slow_seen) <= {"408", "closed"}, slow_seen
    # a body is answered 408 or, beyond service.max_bodies, 503 busy; a request without a
    # token is answered 401 at once, then closed when its body does not end in time
    assert set(bodies_seen) <= {"408", "503", "401", "closed"}, bodies_seen
    assert "408" in bodies_seen, bodies_seen
    assert HTTP.get(base + "/health/live", timeout=60).status_code == 200
    metrics = HTTP.get(base + "/metrics", timeout=60).text
    for reason in ("header_timeout", "body_timeout", "busy"):
        assert _metric(metrics, f'explainer_connections_closed_total{{reason="{reason}"}}') > 0
    assert _metric(metrics, "explainer_connections_open") <= FD_MARGIN


def _metric(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in Prometheus's text format."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_connections_that_never_finish_are_closed_and_the_probe_answers(
    income_server: str, tmp_path: Path, output_dir: Path, probes: Callable[[str], Probes]
) -> None:
    process, base = _service(income_server, tmp_path, output_dir, "default")
    try:
        _attack(process, base, probes, output_dir, "as configured")
    finally:
        process.stop()


def _fd_limit_256() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_under_an_open_file_limit_of_256(
    income_server: str, tmp_path: Path, output_dir: Path, probes: Callable[[str], Probes]
) -> None:
    process, base = _service(income_server, tmp_path, output_dir, "nofile256", _fd_limit_256)
    try:
        _attack(process, base, probes, output_dir, "ulimit -n 256")
    finally:
        process.stop()


@pytest.fixture(scope="module")
def small_headers(
    income_server: str, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("headers")
    process, base = _service(
        income_server, directory, output_dir, "headers", max_header_bytes=8192, max_headers=50
    )
    try:
        yield base
    finally:
        process.stop()


def _send_and_read(base: str, request: bytes) -> bytes:
    """Sends ``request`` from a thread while reading the answer, until the service closes."""
    sock = socket.create_connection(("127.0.0.1", _port(base)), timeout=60)

    def send() -> None:
        with contextlib.suppress(OSError):  # closed by the service once answered
            sock.sendall(request)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionError:
        pass
    sender.join(60)
    sock.close()
    return answer


@pytest.mark.parametrize(
    ("headers", "unit", "limit"),
    [
        pytest.param(b"X-Huge: " + b"a" * 1024 * 1024 + b"\r\n", "bytes", 8192, id="1 MB header"),
        pytest.param(b"".join(b"X-%d: 1\r\n" % n for n in range(100_000)), "fields", 50, id="100k"),
    ],
)
def test_headers_too_large_are_431(
    small_headers: str, headers: bytes, unit: str, limit: int
) -> None:
    request = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
    answer = _send_and_read(small_headers, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:300]
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "headers_too_large"
    assert error["detail"] == {"limit": limit, "unit": unit}
    # the service still answers a request of the right size
    assert HTTP.get(small_headers + "/health/live", timeout=60).status_code == 200
