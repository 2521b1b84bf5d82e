"""Starting and stopping real processes on 127.0.0.1 for integration tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.helpers.web import HTTP

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def until(condition: Callable[[], T], what: str, limit: float = 300.0) -> T:
    """Polls ``condition`` every 0.1 s until it gives a true value, and answers that value;
    raises ``TimeoutError`` naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {limit} s for {what}")
        time.sleep(0.1)
    return value


def per_worker(name: str) -> str:
    """The file name ``name`` with the pytest-xdist worker's id before its extension
    (``income-server.log`` -> ``income-server-gw1.log``), for the files of fixtures that every
    worker starts for itself; unchanged when the tests run in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return name
    stem, dot, extension = name.partition(".")
    return f"{stem}-{worker}{dot}{extension}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server started as a child process; ``wait_ready`` polls ``ready_url`` for a 200."""

    def __init__(
        self,
        args: Sequence[str],
        ready_url: str,
        *,
        cwd: Path = ROOT,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        inherit_env: bool = True,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        """``env`` is added to this process's environment, or is the whole environment
        when ``inherit_env`` is false; ``preexec`` runs in the child before it starts
        (e.g. to lower a resource limit)."""
        self.args = list(args)
        self.ready_url = ready_url
        self.base_url = ""
        self.log_path = log
        self._log = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.args,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**(os.environ if inherit_env else {}), **(env or {})},
            preexec_fn=preexec,
        )

    def wait_ready(self, timeout: float = 300.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()  # closes its log
                raise RuntimeError(
                    f"{self.args} exited with {self.process.returncode}{self._tail()}"
                )
            try:
                if HTTP.get(self.ready_url, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(
            f"{self.args} not ready at {self.ready_url} after {timeout} s{self._tail()}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def _tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n" + self.log_path.read_text(errors="replace")[-2000:]


def python_server(module: str, port: int, *extra: str, log: Path | None = None) -> ServerProcess:
    """``python -m module --port port ...`` from the repository root, in this interpreter."""
    return ServerProcess(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *extra],
        ready_url=f"http://127.0.0.1:{port}/healthz"
        if module.startswith("tests.")
        else f"http://127.0.0.1:{port}/v2/health/ready",
        log=log,
    )


def explainer_service(
    config: dict,
    directory: Path,
    log: Path | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    log_level: str = "warning",
    preexec: Callable[[], None] | None = None,
) -> tuple[ServerProcess, str]:
    """``explainer-service serve`` with ``config`` written as YAML into ``directory`` (and
    ``env`` added to the environment, ``preexec`` run in the child first); returns the
    process (live, not necessarily ready) and its base URL."""
    import yaml

    port = port or free_port()
    path = directory / f"explainer-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    script = Path(sys.executable).parent / "explainer-service"
    process = ServerProcess(
        [
            str(script),
            "serve",
            "--config",
            str(path),
            "--port",
            str(port),
            "--log-level",
            log_level,
        ],
        ready_url=f"http://127.0.0.1:{port}/health/live",
        log=log,
        env=env,
        preexec=preexec,
    ).wait_ready()
    return process, f"http://127.0.0.1:{port}"


MLSERVER = ROOT / ".venv-mlserver" / "bin" / "mlserver"


def mlserver(
    repo: Path,
    models: dict[str, Path],
    log: Path | None = None,
    declared: dict[str, dict[str, Any]] | None = None,
) -> ServerProcess:
    """MLServer (its own virtual environment) serving scikit-learn ``models`` (name -> joblib
    file) from the model repository ``repo``; ready once every model is. ``.base_url``.
    ``declared``: name -> more keys of that model's model-settings.json (e.g. ``inputs``,
    which MLServer answers as the model's metadata)."""
    if not MLSERVER.exists():
        raise RuntimeError(f"{MLSERVER} is missing: `make mlserver` (in `make test`) installs it")
    http, grpc, metrics = free_port(), free_port(), free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": http,
        "grpc_port": grpc,
        "metrics_port": metrics,
        "parallel_workers": 0,
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    for name, uri in models.items():
        (repo / name).mkdir(exist_ok=True)
        (repo / name / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": str(uri), "version": "1"},
                    **(declared or {}).get(name, {}),
                }
            )
        )
    base = f"http://127.0.0.1:{http}"
    server = ServerProcess(
        [str(MLSERVER), "start", str(repo)], ready_url=f"{base}/v2/health/ready", log=log
    ).wait_ready(timeout=120)
    for name in models:
        server.ready_url = f"{base}/v2/models/{name}/ready"
        server.wait_ready(timeout=120)
    server.base_url = base
    return server


def _readiness(base_url: str) -> httpx.Response | None:
    """``/health/ready``, or None when it did not answer in time (a busy machine)."""
    try:
        return HTTP.get(base_url + "/health/ready", timeout=30)
    except httpx.TransportError:
        return None


def wait_until_ready(base_url: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = _readiness(base_url)
        if answer is not None and answer.status_code == 200:
            return
        time.sleep(0.2)
    last = _readiness(base_url)
    raise TimeoutError(f"{base_url} not ready: {last.text if last else 'no answer'}")


def wait_until_fitted(base_url: str, timeout: float = 300.0) -> dict:
    """Until the explainers are fitted (readiness then speaks of the model); the last state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = _readiness(base_url)
        if answer is not None and not answer.json()["reason"].startswith("starting"):
            return dict(answer.json())
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} still fitting after {timeout} s")


def open_page(url: str, timeout: float = 600.0) -> httpx.Response:
    """GET ``url`` as a person would: a drill-down link answers 202 with a page that refreshes
    itself while the explanation runs (longer on a busy machine); poll until it is done."""
    deadline = time.monotonic() + timeout
    while True:
        response = HTTP.get(url, timeout=timeout, follow_redirects=True)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)
