"""Servers the benchmark starts on 127.0.0.1, each in its own process group, and stops.

A server runs in a new session, so Ctrl-C in the terminal reaches only the benchmark, which
then stops every server it started (MLServer's worker processes with it: the whole group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A child process logging to ``log``; ``wait_ready`` polls ``ready_url`` for a 200."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        ready_url: str,
        log: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.args = [str(a) for a in args]
        self.ready_url = ready_url
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                self.args,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_ready(self, timeout: float) -> Server:
        """Until ``ready_url`` answers 200; raises with the log's tail if the process exits
        or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.ready_url, timeout=2.0).status_code == 200:
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready at {self.ready_url} after {timeout} s")

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL to what is left of it after 15 s."""
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            if not self._group_alive():
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            deadline = time.monotonic() + wait
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def _group_alive(self) -> bool:
        self.process.poll()  # reaps the leader once it exits
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
