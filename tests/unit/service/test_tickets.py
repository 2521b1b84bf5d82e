"""The service's side of the pool: tasks, de-duplication, the store and queue_seconds,
with a stand-in worker that answers once a test opens its gate (a file)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.errors import (
    QueueFullError,
    ShuttingDownError,
    StoreError,
    WorkerError,
    http_error,
)
from explainer_service.runtime import Runtime
from explainer_service.service import STORE_DOWN, Ledger, Service, owner_id
from explainer_service.settings import load_settings
from explainer_service.store import SqliteStore, Status, Store
from explainer_service.workers import Pool
from tests.helpers import fake_workers
from tests.helpers.sqlite import connected
from tests.helpers.support import free_port, until

LIMIT_S = 60.0


@pytest.fixture
def service(income_files, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    gate = tmp_path / "open"
    pool = Pool(str(gate), 1, target=fake_workers.explaining)
    service = Service(settings, Runtime(settings), SqliteStore(":memory:"), pool)
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
        {"error": {"code": "invalid_parameter", "message": "seed 13", "detail": {"field": "seed"}}},
    )
    record = service.store.get(ticket.id)
    assert record.status is Status.failed
    assert record.error == {
        "code": "invalid_parameter",
        "message": "seed 13",
        "detail": {"field": "seed"},
        "status": 422,
    }


def build(settings, store: Store, gate: Path, workers: int = 1) -> Service:
    pool = Pool(str(gate), workers, target=fake_workers.explaining)
    built = Service(settings, Runtime(settings), store, pool)
    pool.start()
    until(lambda: pool.ready, "the worker")
    return built


@pytest.fixture
def settings(income_files):
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    return settings


def test_beyond_max_queue_a_request_is_refused_with_a_time_to_retry(settings, tmp_path) -> None:
    settings.service.max_queue = 2
    service = build(settings, SqliteStore(":memory:"), tmp_path / "open")
    try:
        running = service.tickets("shap", payload(), 0, {"seed": 1})[0]
        until(lambda: service.store.get(running.id).status is Status.running, "running")
        waiting = [service.tickets("shap", payload(), 0, {"seed": s})[0] for s in (2, 3)]
        assert service.saturation() == {"waiting": 2, "limit": 2, "saturated": True}
        with pytest.raises(QueueFullError) as info:
            service.tickets("shap", payload(), 0, {"seed": 4})
        status, body = http_error(info.value)
        assert status == 429 and body["error"]["detail"]["retry_after_s"] >= 1
        # a request already queued is still answered: no new work, no refusal
        assert service.tickets("shap", payload(), 0, {"seed": 2})[0].id == waiting[0].id
        (tmp_path / "open").touch()
        for ticket in [running, *waiting]:
            assert asyncio.run(service.result(ticket)) is not None
        assert service.saturation()["saturated"] is False
    finally:
        service.close()


def test_two_services_on_one_store_compute_a_request_once(settings, tmp_path) -> None:
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    one = build(settings, SqliteStore(path), gate)
    two = build(settings, SqliteStore(path), gate)
    try:
        first = one.tickets("shap", payload(), 0, {"seed": 5})[0]
        until(lambda: one.store.get(first.id).status is Status.running, "running in one")
        second = two.tickets("shap", payload(), 0, {"seed": 5})[0]
        assert second.id == first.id and second.future is None  # one computes it
        assert two.pool.waiting == 0 and two.pool.running() == []
        gate.touch()

        async def both():
            return await asyncio.gather(one.result(first), two.result(second))

        a, b = asyncio.run(both())
        assert a is not None and a == b
        assert one.store.get(first.id).attempts == 1
    finally:
        one.close()
        two.close()


def test_a_request_whose_holder_died_is_taken_over_and_done_once(settings, tmp_path) -> None:
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    with closing(SqliteStore(path)) as dead:  # accepted a request, then was killed
        task = {"method": "shap", "row": None, "params": {"seed": 9, "nsamples": 500}}
        record, _ = dead.claim("key-of-a-killed-request", "shap", task, "killed", 0.2)
        dead.start(record.id, "killed")
    settings.service.lease_s = 1
    gate.touch()
    service = build(settings, SqliteStore(path), gate)
    try:
        until(lambda: service.adopt_orphans() == 1, "the orphan to be taken over")
        until(lambda: service.store.get(record.id).status is Status.done, "the orphan done")
        done = service.store.get(record.id)
        assert done.attempts == 2 and done.explanation.provenance.params["seed"] == 9
        assert service.adopt_orphans() == 0
    finally:
        service.close()


def test_closing_hands_unfinished_requests_on_instead_of_failing_them(settings, tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    service = build(settings, SqliteStore(path), tmp_path / "never-open")
    running = service.tickets("shap", payload(), 0, {"seed": 1})[0]
    queued = service.tickets("shap", payload(), 0, {"seed": 2})[0]
    until(lambda: service.store.get(running.id).status is Status.running, "running")
    service.close()
    with closing(SqliteStore(path)) as after:
        orphans = {o.id for o in after.orphans(10)}
    assert orphans == {running.id, queued.id}


def test_draining_refuses_new_work_hands_the_queued_on_and_lets_the_running_finish(
    settings, tmp_path
) -> None:
    """The stand-in worker answers once the test opens its gate, after the drain began."""
    gate = tmp_path / "open"
    service = build(settings, SqliteStore(tmp_path / "s.sqlite"), gate)
    try:
        running = service.tickets("shap", payload(), 0, {"seed": 1})[0]
        queued = service.tickets("shap", payload(), 0, {"seed": 2})[0]
        until(lambda: service.store.get(running.id).status is Status.running, "running")
        draining = threading.Thread(target=service.drain, args=(10 * LIMIT_S,))
        draining.start()
        with pytest.raises(ShuttingDownError):  # released, for the next process
            asyncio.run(service.result(queued))
        released = service.store.get(queued.id)
        assert released.status is Status.pending and released.owner is None
        assert not service.readiness.ready and service.readiness.reason.startswith("shutting")
        with pytest.raises(ShuttingDownError) as info:
            service.tickets("shap", payload(), 0, {"seed": 3})
        status, body = http_error(info.value)
        assert (status, body["error"]["code"]) == (503, "shutting_down")
        assert body["error"]["detail"] == {"retry_after_s": 1}
        assert service.adopt_orphans() == 0  # the released one is for another process
        assert draining.is_alive()  # the running explanation waits at the gate
        gate.touch()
        assert asyncio.run(service.result(running)) is not None
        draining.join(LIMIT_S)
        assert not draining.is_alive()
        assert service.store.get(running.id).status is Status.done
    finally:
        service.close()


def test_a_new_model_version_or_reference_data_is_a_new_explanation(settings, tmp_path) -> None:
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    gate.touch()
    first = build(settings, SqliteStore(path), gate)
    try:
        old = first.tickets("shap", payload(), 0, {"seed": 3})[0]
        assert asyncio.run(first.result(old)) is not None
        assert first.tickets("shap", payload(), 0, {"seed": 3})[0].record is not None  # stored
    finally:
        first.close()
    retrained = settings.model_copy(deep=True)
    retrained.model.version = "2"
    moved = pd.read_csv(settings.data.reference)
    moved.loc[0, "age"] += 1
    reference = tmp_path / "reference.csv"
    moved.to_csv(reference, index=False)
    refreshed = settings.model_copy(deep=True)
    refreshed.data.reference = reference
    for changed in (retrained, refreshed):
        service = build(changed, SqliteStore(path), gate)
        try:
            again = service.tickets("shap", payload(), 0, {"seed": 3})[0]
            assert again.id != old.id and again.record is None  # computed anew
            assert asyncio.run(service.result(again)) is not None
        finally:
            service.close()


def test_new_display_names_reuse_the_stored_explanation(settings, tmp_path) -> None:
    """Labels change what pages say, not what the model is asked: no recomputation."""
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    gate.touch()
    first = build(settings, SqliteStore(path), gate)
    try:
        old = first.tickets("shap", payload(), 0, {"seed": 4})[0]
        assert asyncio.run(first.result(old)) is not None
    finally:
        first.close()
    relabelled = settings.model_copy(deep=True)
    relabelled.features.labels = {"age": "Age in years"}
    relabelled.model.class_labels = {}
    service = build(relabelled, SqliteStore(path), gate)
    try:
        again = service.tickets("shap", payload(), 0, {"seed": 4})[0]
        assert again.id == old.id and again.record is not None
    finally:
        service.close()


def test_a_task_answered_before_its_callback_is_added_does_not_deadlock(
    service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast worker (or a closing pool) can finish a job before ``_submit`` adds its
    callback; the callback then runs at once, in the thread that holds the service's lock."""
    service, gate = service
    gate.touch()
    submit = service.pool.submit

    def answered_at_once(task):
        job = submit(task)
        job.future.exception(timeout=LIMIT_S)  # done before the callback is added
        return job

    monkeypatch.setattr(service.pool, "submit", answered_at_once)
    tickets: list = []
    asking = threading.Thread(
        target=lambda: tickets.extend(service.tickets("shap", payload(), 0, {"seed": 31})),
        daemon=True,
    )
    asking.start()
    asking.join(LIMIT_S)
    assert not asking.is_alive(), "tickets() deadlocked"
    explanation = asyncio.run(service.result(tickets[0]))
    assert explanation is not None and service.store.get(tickets[0].id).status is Status.done


def test_retention_deletes_explanations_finished_before_it_and_only_when_set(
    settings, tmp_path
) -> None:
    path, gate = tmp_path / "s.sqlite", tmp_path / "open"
    gate.touch()
    service = build(settings, SqliteStore(path), gate)
    try:
        old, new = (service.tickets("shap", payload(), 0, {"seed": s})[0] for s in (21, 22))
        for ticket in (old, new):
            assert asyncio.run(service.result(ticket)) is not None
        with connected(path) as db:  # finished long ago
            db.execute("UPDATE explanations SET updated_at = '2020-01-01' WHERE id = ?", (old.id,))
        assert service.purge() == 0  # service.retention_days unset: kept forever
        service.settings.service.retention_days = 30
        assert service.purge() == 1
        assert service.store.get(old.id) is None and service.store.get(new.id) is not None
    finally:
        service.close()


class FlakyStore(SqliteStore):
    """A store that refuses answers and failures while ``down``, as a database that went
    away for a moment would."""

    down = True

    def finish(self, id, owner, explanation) -> bool:  # type: ignore[no-untyped-def]
        self._check()
        return super().finish(id, owner, explanation)

    def fail(self, id, owner, error) -> bool:  # type: ignore[no-untyped-def]
        self._check()
        return super().fail(id, owner, error)

    def ping(self) -> None:
        self._check()
        super().ping()

    def _check(self) -> None:
        if self.down:
            raise StoreError("the store postgresql://app:***@db/x failed: connection lost")


def test_an_answer_the_store_refused_fails_its_caller_and_its_lease_runs_out(
    settings, tmp_path
) -> None:
    """With no room to keep answers in memory (``service.max_unstored`` 0)."""
    settings.service.max_unstored = 0
    gate = tmp_path / "open"
    gate.touch()
    service = build(settings, FlakyStore(tmp_path / "s.sqlite"), gate)
    try:
        ticket = service.tickets("shap", payload(), 0, {"seed": 31})[0]
        with pytest.raises(StoreError) as info:
            asyncio.run(service.result(ticket))
        assert http_error(info.value)[0] == 503
        assert service.store.get(ticket.id).status is Status.running  # the store never heard
        assert service.renew_leases() == 0  # nobody here computes it any more
        service.store.down = False
        with connected(tmp_path / "s.sqlite") as db:  # what time does to its lease
            db.execute("UPDATE explanations SET lease_until = 0 WHERE id = ?", (ticket.id,))
        assert service.adopt_orphans() == 1  # so it is computed again, here or elsewhere
        until(lambda: service.store.get(ticket.id).status is Status.done, "computed again")
        assert service.store.get(ticket.id).attempts == 2
    finally:
        service.close()


def test_a_store_that_does_not_answer_makes_the_service_not_ready(
    settings, tmp_path, caplog
) -> None:
    """Checked before the model (here unreachable): a replica cut off from a shared store
    answers every explanation 503, so the load balancer should send it none."""
    service = build(settings, FlakyStore(tmp_path / "s.sqlite"), tmp_path / "open")
    try:
        with caplog.at_level("WARNING", logger="explainer_service"):
            service.check_readiness()
            service.check_readiness()
        assert not service.readiness.ready and service.readiness.reason == STORE_DOWN
        warned = [r.getMessage() for r in caplog.records if "not ready" in r.getMessage()]
        assert warned == ["not ready: the store postgresql://app:***@db/x failed: connection lost"]
        service.store.down = False
        service.check_readiness()
        assert not service.readiness.ready  # the model is still unreachable
        assert service.readiness.reason != STORE_DOWN
    finally:
        service.close()


def test_a_request_a_batch_holds_is_joined_and_computed_here_once_the_batch_lets_go(
    settings, tmp_path
) -> None:
    """The batch's ledger claims the row first, on the same store file; the service waits
    for it instead of computing it, and takes it over when the batch releases it."""
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    gate.touch()
    service = build(settings, SqliteStore(path), gate)
    batch = Ledger(SqliteStore(path), settings.service.lease_s, owner_id("batch"))
    try:
        params = service.runtime.resolve_params("shap", {"seed": 6}).model_dump(mode="json")
        row = service.runtime.instances("shap", payload(), 0, 1)[0]
        key = service.runtime.cache_key("shap", params, row)
        held, taken = batch.claim(key, "shap", {"method": "shap", "row": row, "params": params})
        assert taken and batch.start(held.id)
        ticket = service.tickets("shap", payload(), 0, {"seed": 6})[0]
        assert ticket.id == held.id and ticket.future is None and not ticket.computed
        assert service.pool.waiting == 0 and service.pool.running() == []
        assert asyncio.run(service.result(ticket, timeout=0.1)) is None  # still the batch's
        assert batch.release(held.id)
        assert asyncio.run(service.result(ticket, timeout=LIMIT_S)) is not None
        done = service.store.get(held.id)
        assert done.status is Status.done and done.attempts == 2  # the batch's, then here
        assert not batch.finish(held.id, done.explanation)  # the batch lost it
    finally:
        batch.store.close()
        service.close()


def test_an_explanation_that_finds_the_model_down_checks_readiness_at_once(
    service, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, gate = service
    gate.touch()
    woken = threading.Event()
    monkeypatch.setattr(service._readiness_check, "wake", woken.set)
    failing = service.tickets("shap", payload(), 0, {"seed": 13})[0]  # the caller's mistake
    with pytest.raises(WorkerError):
        asyncio.run(service.result(failing))
    assert not woken.is_set()
    down = service.tickets("shap", payload(), 0, {"seed": 14})[0]
    with pytest.raises(WorkerError) as info:
        asyncio.run(service.result(down))
    assert http_error(info.value)[1]["error"]["code"] == "model_unavailable"
    assert woken.is_set()


def test_the_chores_run_once_the_workers_started_and_end_when_the_service_closes(
    settings, tmp_path, caplog
) -> None:
    """An orphan in the store is taken over by the chores alone, and readiness is checked
    (the model does not answer here); closing the service ends ``run_background``."""
    path, gate = tmp_path / "shared.sqlite", tmp_path / "open"
    gate.touch()
    dead = SqliteStore(path)
    task = {"method": "shap", "row": None, "params": {"seed": 8, "nsamples": 500}}
    orphan, _ = dead.claim("key-of-a-killed-request", "shap", task, "killed", 0.2)
    settings.service.lease_s = 1
    pool = Pool(str(gate), 1, target=fake_workers.explaining)
    service = Service(settings, Runtime(settings), SqliteStore(path), pool)
    background = threading.Thread(
        target=lambda: asyncio.run(service.run_background()), name="background", daemon=True
    )
    try:
        with caplog.at_level("INFO", logger="explainer_service"):
            background.start()
            until(lambda: dead.get(orphan.id).status is Status.done, "the orphan done")
            until(lambda: not service.readiness.reason.startswith("starting"), "the check")
        assert not service.readiness.ready
        assert service.readiness.reason.startswith("the model is unreachable")
        assert f"took over explanation {orphan.id} (shap) from killed" in caplog.text
    finally:
        service.close()
        dead.close()
    background.join(LIMIT_S)
    assert not background.is_alive()
