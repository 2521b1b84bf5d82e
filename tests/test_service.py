"""The service's side of the pool: tasks, de-duplication, the store and queue_seconds,
with a stand-in worker that answers once a test opens its gate (a file)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.errors import WorkerError, http_error
from explainer_service.runtime import Runtime
from explainer_service.service import Service
from explainer_service.settings import load_settings
from explainer_service.store import Status, Store
from explainer_service.workers import Pool
from tests import fake_workers
from tests.support import free_port

LIMIT_S = 60.0


def until(condition, what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.fixture
def service(income_files, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    gate = tmp_path / "open"
    pool = Pool(str(gate), 1, target=fake_workers.explaining)
    service = Service(settings, Runtime(settings), Store(":memory:"), pool)
    pool.start()
    until(lambda: pool.ready, "the worker")
    yield service, gate
    service.close()


def payload() -> dict:
    return json.loads((paths.PAYLOADS / "v2.json").read_text())


def test_one_computation_per_id_stored_with_its_queue_time(service) -> None:
    service, gate = service
    first = service.tickets("shap", payload(), 0, {"seed": 4})[0]
    until(lambda: service.store.get(first.id).status is Status.running, "running")
    again = service.tickets("shap", payload(), 0, {"seed": "4"})[0]  # the same, as a string
    assert again.id == first.id and again.future is first.future
    assert service.pool.running()[0].task.params["nsamples"] == 500  # resolved from the config
    gate.touch()
    explanation = asyncio.run(service.result(first))
    assert explanation is not None and explanation.cost.queue_seconds is not None
    assert service.store.get(first.id).explanation == explanation
    stored = service.tickets("shap", payload(), 0, {"seed": 4})[0]
    assert stored.record is not None and stored.future is None


def test_an_error_in_the_worker_is_raised_and_stored_as_answered(service) -> None:
    service, gate = service
    gate.touch()
    ticket = service.tickets("shap", payload(), 0, {"seed": 13})[0]
    with pytest.raises(WorkerError) as info:
        asyncio.run(service.result(ticket))
    assert http_error(info.value) == (
        422,
        {"error": {"code": "unlucky", "message": "seed 13", "detail": {}}},
    )
    record = service.store.get(ticket.id)
    assert record.status is Status.failed and record.error["code"] == "unlucky"
    assert record.error["status"] == 422
