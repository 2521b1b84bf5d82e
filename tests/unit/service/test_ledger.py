"""The lease ledger: owner ids, and a batch's and a service's ledgers sharing one SQLite
store as two processes would (each opens the file): a lease one holds is not the other's
until it expires or is released; renewal keeps it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from explainer_service.service.chores import LeaseRenewal, running_in_thread
from explainer_service.service.ledger import Ledger, owner_id
from explainer_service.store import SqliteStore, Status, Store
from tests.helpers.render_factories import shap
from tests.helpers.support import until

TASK = {"method": "shap", "row": [1, "a"], "params": {"seed": 0}}
#: a lease no test outlives
LONG_S = 3600.0
#: a lease that runs out while a test polls for it (never asserted on as a duration)
SHORT_S = 0.3


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """The service's and the batch's connections to one store file."""
    path = tmp_path / "shared.sqlite"
    service, batch = SqliteStore(path), SqliteStore(path)
    yield service, batch
    service.close()
    batch.close()


def test_owner_ids_name_the_host_and_process_and_differ_for_each_ledger() -> None:
    host, pid = socket.gethostname(), str(os.getpid())
    plain, batch = owner_id(), owner_id("batch")
    assert plain.split(":")[:2] == [host, pid]
    assert batch.split(":")[:3] == ["batch", host, pid]
    assert owner_id() != plain and owner_id("batch") != batch
    with closing(SqliteStore(":memory:")) as store:
        one, two = Ledger(store, LONG_S), Ledger(store, LONG_S)
    assert one.owner != two.owner and one.owner.split(":")[:2] == [host, pid]


def test_a_lease_the_batch_holds_is_not_the_services_until_released(stores) -> None:
    service = Ledger(stores[0], LONG_S)
    batch = Ledger(stores[1], LONG_S, owner_id("batch"))
    record, held = batch.claim("k", "shap", TASK)
    assert held and batch.start(record.id)
    again, taken = service.claim("k", "shap", TASK)
    assert not taken and again.id == record.id and again.owner == batch.owner
    assert service.held_elsewhere(again) and not batch.held_elsewhere(again)
    assert not service.take_over(record.id)
    assert not service.start(record.id) and not service.release(record.id)
    assert not service.finish(record.id, shap()) and not service.fail(record.id, {"code": "x"})
    assert service.renew() == 0 and batch.renew() == 1
    assert stores[0].get(record.id).status is Status.running  # untouched by the service
    assert batch.release(record.id)
    mine, taken = service.claim("k", "shap", TASK)
    assert taken and mine.id == record.id and mine.owner == service.owner
    assert service.finish(record.id, shap()) and stores[1].get(record.id).status is Status.done


def test_a_lease_not_renewed_expires_and_the_other_ledger_takes_it(stores) -> None:
    service = Ledger(stores[0], SHORT_S)
    batch = Ledger(stores[1], LONG_S, owner_id("batch"))
    record, held = service.claim("k", "shap", TASK)
    assert held and service.start(record.id)
    until(lambda: batch.claim("k", "shap", TASK)[1], "the service's lease to expire")
    assert stores[0].get(record.id).owner == batch.owner
    assert not service.finish(record.id, shap())  # the old holder lost it
    now = stores[0].get(record.id)
    assert service.held_elsewhere(now) and not batch.held_elsewhere(now)
    assert batch.finish(record.id, shap())


def test_the_renewal_chore_keeps_the_leases_it_is_given(stores) -> None:
    service = Ledger(stores[0], 3.0)
    kept, _ = service.claim("kept", "shap", TASK)
    other, _ = service.claim("other", "shap", TASK)
    with running_in_thread(LeaseRenewal(service, lambda: [kept.id])):
        until(
            lambda: stores[0].get(kept.id).lease_until > kept.lease_until,
            "the kept lease to be renewed",
        )
    assert stores[0].get(other.id).lease_until == other.lease_until


def test_without_a_list_the_renewal_chore_keeps_every_lease_of_its_owner(stores) -> None:
    batch = Ledger(stores[1], 3.0, owner_id("batch"))
    service = Ledger(stores[0], 3.0)
    records = [batch.claim(key, "shap", TASK)[0] for key in ("a", "b")]
    theirs, _ = service.claim("c", "shap", TASK)
    with running_in_thread(LeaseRenewal(batch)):
        for record in records:
            until(
                lambda record=record: stores[1].get(record.id).lease_until > record.lease_until,
                "each of the batch's leases to be renewed",
            )
    assert stores[0].get(theirs.id).lease_until == theirs.lease_until
