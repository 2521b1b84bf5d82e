"""Tickets for ``models.candidate``: their own cache keys and stored tasks, so that the two
versions' explanations of one row are two explanations, and a process that takes one over
computes it with the right version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.errors import NotFoundError
from explainer_service.runtime import Runtime
from explainer_service.service import Service
from explainer_service.settings import CandidateSettings, load_settings
from explainer_service.store import SqliteStore
from explainer_service.workers import Pool
from tests.helpers import fake_workers
from tests.helpers.support import free_port, until


def settings_with(candidate: bool):
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    if candidate:
        url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"
        settings.models.candidate = CandidateSettings(url=url, version="2")
    return settings


def started(settings, tmp_path: Path, candidate: Runtime | None) -> Service:
    gate = tmp_path / "open"
    gate.touch()
    pool = Pool(str(gate), 1, target=fake_workers.explaining)
    runtime = Runtime(settings)
    service = Service(settings, runtime, SqliteStore(":memory:"), pool, candidate)
    pool.start()
    until(lambda: pool.ready, "the worker")
    return service


@pytest.fixture
def service(income_files, tmp_path: Path) -> Iterator[Service]:
    settings = settings_with(candidate=True)
    candidate = settings.candidate()
    assert candidate is not None
    service = started(settings, tmp_path, Runtime(candidate))
    yield service
    service.close()


def test_the_two_versions_are_two_explanations(service: Service) -> None:
    payload = json.loads((paths.PAYLOADS / "v2.json").read_text())
    rows = service.runtime.instances("shap", payload, 0)
    model = service.tickets_of_rows("shap", rows, {"seed": 4})[0]
    candidate = service.tickets_of_rows("shap", rows, {"seed": 4}, candidate=True)[0]
    assert model.id != candidate.id
    asyncio.run(service.result(model))
    asyncio.run(service.result(candidate))
    stored = {t.id: service.store.get(t.id) for t in (model, candidate)}
    assert stored[candidate.id].task["candidate"] is True  # a take-over keeps the version
    assert "candidate" not in stored[model.id].task
    assert stored[model.id].key != stored[candidate.id].key
    again = service.tickets_of_rows("shap", rows, {"seed": "4"}, candidate=True)[0]
    assert again.id == candidate.id and again.record is not None  # from the store


def test_without_a_candidate_a_candidate_ticket_is_not_found(income_files, tmp_path: Path) -> None:
    settings = settings_with(candidate=False)
    pool = Pool(str(tmp_path / "open"), 1, target=fake_workers.explaining)  # not started
    service = Service(settings, Runtime(settings), SqliteStore(":memory:"), pool)
    try:
        payload = json.loads((paths.PAYLOADS / "v2.json").read_text())
        rows = service.runtime.instances("shap", payload, 0)
        with pytest.raises(NotFoundError):
            service.tickets_of_rows("shap", rows, {}, candidate=True)
    finally:
        service.close()
