"""Headless Chromium (Debian's), with the network cut off except for 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support import open_page

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


def _run(url: str, extra: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
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


def screenshot(url: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    open_page(url)
    result = _run(url, [f"--screenshot={path}"])
    if result.returncode != 0 or not path.exists():
        raise RuntimeError(f"chromium took no screenshot of {url}: {result.stderr[-2000:]}")
    return path
