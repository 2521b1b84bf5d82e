"""Headless Chromium (Debian's), with the network cut off except for 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

from tests.helpers.support import open_page

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=5000",
    "--window-size=1200,1600",
]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is missing: `make browser` (part of `make test`) installs it")
    return found


@contextmanager
def profile_directory() -> Iterator[str]:
    """A fresh Chromium profile directory, removed afterwards. Chromium's helper processes
    may still be writing into it for a moment after the browser exits, so removing it is
    retried for up to 30 seconds (what then remains is left in the temporary directory)."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        yield profile
    finally:
        deadline = time.monotonic() + 30
        while True:
            try:
                shutil.rmtree(profile)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    shutil.rmtree(profile, ignore_errors=True)
                    break
                time.sleep(0.2)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a browser started with ``start_new_session`` and every process of its group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(30)
            return
        except subprocess.TimeoutExpired:
            continue


def _run(url: str, extra: list[str]) -> subprocess.CompletedProcess[str]:
    with profile_directory() as profile:
        return subprocess.run(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=300,
        )


def dump_dom(url: str) -> str:
    """The DOM after scripts ran (plotly draws its SVG then), once the page is done."""
    open_page(url)
    result = _run(url, ["--dump-dom"])
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {result.stderr[-2000:]}")
    return result.stdout


def dump_file_dom(path: Path) -> str:
    """The DOM of a local HTML file after its scripts ran (network cut off as for pages)."""
    result = _run(path.resolve().as_uri(), ["--dump-dom"])
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {path}: {result.stderr[-2000:]}")
    return result.stdout


def screenshot(url: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    open_page(url)
    result = _run(url, [f"--screenshot={path}"])
    if result.returncode != 0 or not path.exists():
        raise RuntimeError(f"chromium took no screenshot of {url}: {result.stderr[-2000:]}")
    return path


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees in ``html`` (HTML and SVG text; not scripts, data blocks or
    styles), one piece a line."""
    parser = _Text()
    parser.feed(html)
    return "\n".join(part.strip() for part in parser.parts if part.strip())


def element_text(html: str, id: str) -> str:
    """The visible text inside the element with this ``id``."""
    start = html.index(f'id="{id}"')
    start = html.index(">", start) + 1
    tag = html.rfind("<", 0, start)
    name = html[tag + 1 : html.index(" ", tag)]
    return visible_text(html[start : html.index(f"</{name}>", start)])
