"""Headless Chromium driven over the DevTools protocol (CDP), for pages that a test uses:
type into an input, click, follow where the page goes. The network is cut off as for
``browser.dump_dom``: every host but 127.0.0.1 is unresolvable."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.helpers.browser import FLAGS, chromium_path, profile_directory, stop_group
from tests.helpers.support import free_port
from tests.helpers.web import HTTP

#: ``browser.FLAGS`` without what only one-shot runs (``--dump-dom``) need
_FLAGS = [f for f in FLAGS if not f.startswith(("--virtual-time-budget", "--window-size"))]


class Page:
    """One tab: ``evaluate`` runs JavaScript in it, ``wait_for`` polls an expression."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._ids = itertools.count(1)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One CDP command's result (events that arrive meanwhile are dropped)."""
        id = next(self._ids)
        self.socket.send(json.dumps({"id": id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` (awaited when it is a promise)."""
        answer = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 300.0) -> Any:
        """Poll ``expression`` until it is truthy (a page may be loading: errors are retried)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except RuntimeError as exc:  # the page is between documents
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.2)
        raise TimeoutError(f"{expression} stayed falsy: {last!r}")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def viewport(self, width: int, height: int = 900) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def screenshot(self, path: Path) -> Path:
        """The whole page as PNG (for people to look at; tests assert on the DOM)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextmanager
def chromium(log: Path | None = None) -> Iterator[Page]:
    """A headless Chromium with one blank tab; closed on exit."""
    port = free_port()
    with profile_directory() as profile:
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(
            [
                chromium_path(),
                *_FLAGS,
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,  # its helper processes are stopped with it
        )
        try:
            with connect(_page_socket(port), max_size=2**26, open_timeout=60) as socket:
                page = Page(socket)
                page.send("Page.enable")
                yield page
        finally:
            stop_group(process)
            if log:
                out.close()  # type: ignore[union-attr]


def _page_socket(port: int, timeout: float = 120.0) -> str:
    """The DevTools address of the browser's first tab, once it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            targets = HTTP.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("chromium's DevTools did not answer")
        time.sleep(0.2)
