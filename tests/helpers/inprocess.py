"""The service's application in this process, with a stand-in worker, for fast tests of
the HTTP surface (no explanation engine runs, no model is called)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.settings import CandidateSettings, FeatureSource, load_settings
from explainer_service.workers import Pool
from tests.helpers import fake_workers
from tests.helpers.support import free_port


def fake_app(directory: Path, model: str | None = None) -> FastAPI:
    """The income example's application whose one worker (``fake_workers.explaining``)
    answers every task at once with a small Explanation, as do its batches
    (``fake_workers.batch_at_once``: no Ray). ``model``: the base URL of the
    income model server, which only readiness calls; by default a port where nothing
    listens (readiness says so). Explanations are kept in memory."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.service.store = ":memory:"
    base = model or f"http://127.0.0.1:{free_port()}"
    settings.model.url = f"{base}/v2/models/income/infer"  # type: ignore[assignment]
    settings.model.retries = 0
    settings.features.source = FeatureSource.reference  # the model is not asked at start-up
    # the same server as a second version (compare=candidate; only its checks call it)
    settings.models.candidate = CandidateSettings(url=settings.model.url, version="candidate")
    gate = directory / "open"
    gate.touch()
    return create_app(
        settings,
        pool=Pool(str(gate), 1, target=fake_workers.explaining),
        batch_runner=fake_workers.batch_at_once,
    )


def wait_for_worker(app: FastAPI, timeout: float = 120.0, *, ready: bool = False) -> None:
    """Until the stand-in worker has started (the application's lifespan must run), and
    with ``ready`` until readiness says ready (the model answered)."""
    service = app.state.service
    deadline = time.monotonic() + timeout
    while not (service.pool.ready and (service.readiness.ready or not ready)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready: {service.readiness.reason}")
        time.sleep(0.05)


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1 from a thread of this process
    (its lifespan runs, its worker with it); yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the application did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
