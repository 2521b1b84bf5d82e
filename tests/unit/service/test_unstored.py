"""A store that fails as answers are stored: the waiting caller gets 503 at once, the
answer is kept in memory (bounded) and stored once the store writes again, never stored as
failed; whatever goes wrong while storing, the caller is answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from explainer_service.errors import StoreError, http_error
from explainer_service.service import Service
from explainer_service.service.readiness import STORE_DOWN, STORE_REPLACED
from explainer_service.service.unstored import Unstored, UnstoredAnswers
from explainer_service.store import SqliteStore, Status
from explainer_service.workers import Task
from tests.unit.service.test_tickets import LIMIT_S, build, payload, settings  # noqa: F401


class FinishRefused(SqliteStore):
    """Refuses to store answers while ``down`` but stores failures, as a PostgreSQL server
    that cut the connection an answer was sent on, and is back for the next one, does."""

    down = True
    refusal: Exception = StoreError("the store postgresql://app:***@db/x failed: terminated")

    def finish(self, id, owner, explanation) -> bool:  # type: ignore[no-untyped-def]
        if self.down:
            raise self.refusal
        return super().finish(id, owner, explanation)


class NothingStored(FinishRefused):
    """Raises ``refusal`` for answers and for failures alike (as the SQLite store did before
    its errors were mapped to ``StoreError``)."""

    def fail(self, id, owner, error) -> bool:  # type: ignore[no-untyped-def]
        if self.down:
            raise self.refusal
        return super().fail(id, owner, error)


def answer(service: Service, ticket) -> object:  # type: ignore[no-untyped-def]
    """The ticket's result, or the error it raised; a hang fails the test after a minute."""

    async def wait() -> object:
        return await asyncio.wait_for(service.result(ticket), LIMIT_S)

    try:
        return asyncio.run(wait())
    except TimeoutError:
        pytest.fail("the waiting request was never answered")
    except Exception as exc:
        return exc


def test_an_answer_the_store_refused_is_kept_and_stored_once_it_answers(
    settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    gate = tmp_path / "open"
    gate.touch()
    service = build(settings, FinishRefused(tmp_path / "s.sqlite"), gate)
    try:
        ticket = service.tickets("shap", payload(), 0, {"seed": 41})[0]
        refused = answer(service, ticket)
        assert isinstance(refused, StoreError) and http_error(refused)[0] == 503
        assert http_error(refused)[1]["error"]["code"] == "store_unavailable"
        row = service.store.get(ticket.id)
        assert row is not None and row.status is Status.running and row.error is None
        assert len(service.unstored) == 1 and service.renew_leases() == 1  # still held here

        again = service.tickets("shap", payload(), 0, {"seed": 41})[0]  # answered from memory
        kept = answer(service, again)
        assert again.id == ticket.id and kept == service.unstored.all()[0].explanation
        with pytest.raises(StoreError):
            service.store_unstored()  # still down: kept

        service.store.down = False
        assert service.store_unstored() == 1 and len(service.unstored) == 0
        row = service.store.get(ticket.id)
        assert row is not None and row.status is Status.done and row.attempts == 1
        assert row.explanation == kept
        third = service.tickets("shap", payload(), 0, {"seed": 41})[0]
        assert third.id == ticket.id and third.record is not None  # from the store now
    finally:
        service.close()


def test_an_error_while_storing_an_answer_still_answers_the_caller(
    settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Not a ``StoreError`` (a bug, say), raised when the answer is stored and again when
    the failure is: escaping the job's done-callback, it would only be logged by
    ``concurrent.futures``, and the request would wait forever."""
    gate = tmp_path / "open"
    gate.touch()
    store = NothingStored(tmp_path / "s.sqlite")
    store.refusal = RuntimeError("not a store error")
    service = build(settings, store, gate)
    try:
        ticket = service.tickets("shap", payload(), 0, {"seed": 42})[0]
        failed = answer(service, ticket)
        assert isinstance(failed, RuntimeError) and str(failed) == "not a store error"
        assert service.in_flight() == 0
        row = service.store.get(ticket.id)
        assert row is not None and row.status is not Status.failed
    finally:
        service.close()


def test_the_answers_kept_are_bounded() -> None:
    kept = UnstoredAnswers(limit=2)
    tasks = [Task(f"id{i}", "shap", None, {}, None) for i in range(3)]
    first, second, third = (Unstored(f"k{i}", t, None) for i, t in enumerate(tasks))  # type: ignore[arg-type]
    assert kept.keep(first) and kept.keep(second)
    assert not kept.keep(third)  # full
    assert kept.keep(first)  # the same key again takes no more room
    assert kept.ids() == ["id0", "id1"] and kept.get("k2") is None
    kept.discard("k0")
    assert kept.keep(third) and kept.ids() == ["id1", "id2"]


def test_readiness_says_when_the_store_cannot_write_or_its_file_was_replaced(
    settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    service = build(settings, SqliteStore(path), tmp_path / "open")
    try:
        service.check_readiness()
        assert service.readiness.reason not in (STORE_DOWN, STORE_REPLACED)
        service.store._db.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]
        service.check_readiness()  # reads work; the write probe does not
        assert not service.readiness.ready and service.readiness.reason == STORE_DOWN
        service.store._db.execute("PRAGMA query_only = OFF")  # type: ignore[attr-defined]
        service.check_readiness()
        assert service.readiness.reason != STORE_DOWN
        path.unlink()
        service.check_readiness()
        assert service.readiness.reason == STORE_REPLACED
        with pytest.raises(StoreError) as info:
            service.tickets("shap", payload(), 0, {"seed": 43})
        assert http_error(info.value)[0] == 503
    finally:
        service.close()
