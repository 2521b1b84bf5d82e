"""The explanation store, on both backends (SQLite, and a real PostgreSQL server): random
ids, cache keys, leases, take-overs, older rows, retention, schema versions."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from explainer_service.errors import StoreError
from explainer_service.store import SqliteStore, Status, cache_key, open_store
from explainer_service.store.postgres import PostgresStore, masked
from tests.helpers.postgres import Cluster
from tests.helpers.sqlite import connected
from tests.helpers.support import free_port
from tests.unit.explainers.test_explanation import envelope
from tests.unit.store.conftest import Backend

OLD_ANCHORS = {
    "schema_version": "1.0",
    "method": "anchors",
    "fidelity": {"method": "anchors", "search_rule": ["age > 28.00"], "extended": False},
}
TASK = {"method": "shap", "row": [1, "a"], "params": {"seed": 0}}


def test_ids_are_random_and_one_key_has_one_row(backend: Backend) -> None:
    store = backend.open()
    key = cache_key({"instance": [1, "a"]})
    first, held = store.claim(key, "shap", TASK, "a", 30)
    assert held and first.status is Status.pending and first.task == TASK
    again, held_again = store.claim(key, "shap", TASK, "b", 30)
    assert again.id == first.id and not held_again  # "a" holds it
    other, _ = store.claim(cache_key({"instance": [2, "a"]}), "shap", TASK, "a", 30)
    assert other.id != first.id
    assert key[:22] not in (first.id, other.id) and len(first.id) >= 22
    assert store.find(key).id == first.id  # type: ignore[union-attr]
    assert {r.id for r in store.recent(10)} == {first.id, other.id}
    assert len(store.recent(1)) == 1


def test_processes_claiming_one_key_at_once_give_it_to_one(backend: Backend) -> None:
    stores = [backend.open() for _ in range(3)]

    def claim(i: int) -> tuple[str, bool]:
        record, held = stores[i % 3].claim("k", "shap", TASK, f"owner-{i}", 30)
        return record.id, held

    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(claim, range(24)))
    assert len({id for id, _ in answers}) == 1
    assert sum(held for _, held in answers) == 1


def expire(backend: Backend, id: str) -> None:
    """What time does to the lease of a holder that stopped renewing it."""
    backend.execute("UPDATE explanations SET lease_until = 0 WHERE id = ?", (id,))


def test_a_lease_that_expires_is_taken_over_once_and_the_old_holder_cannot_finish(
    backend: Backend,
) -> None:
    one, two = backend.open(), backend.open()  # two processes' connections to one store
    record, _ = one.claim("k", "shap", TASK, "dead", 3600)
    assert one.start(record.id, "dead")
    assert two.orphans(10) == []
    assert not two.take_over(record.id, "alive", 30)  # its lease holds
    again, held = two.claim("k", "shap", TASK, "alive", 30)
    assert again.id == record.id and not held
    expire(backend, record.id)
    orphans = two.orphans(10)
    assert [o.id for o in orphans] == [record.id] and orphans[0].status is Status.running
    assert two.take_over(record.id, "alive", 30)
    assert not one.take_over(record.id, "late", 30)  # at most one holder
    assert not one.finish(record.id, "dead", envelope())  # the old holder lost it
    assert two.start(record.id, "alive")
    assert two.finish(record.id, "alive", envelope())
    done = one.get(record.id)
    assert done is not None and done.status is Status.done and done.attempts == 2
    assert done.owner is None


def test_an_expired_lease_is_claimed_by_the_next_request(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    record, _ = one.claim("k", "shap", TASK, "dead", 3600)
    expire(backend, record.id)
    again, held = two.claim("k", "shap", TASK, "alive", 30)
    assert held and again.id == record.id and again.owner == "alive"


def test_renewing_extends_a_lease_and_releasing_hands_it_on_at_once(backend: Backend) -> None:
    store = backend.open()
    record, _ = store.claim("k", "shap", TASK, "a", 10)
    assert store.renew("a", 3600) == 1 and store.renew("b", 3600) == 0
    assert store.renew("a", 3600, ids=["other"]) == 0 and store.renew("a", 3600, ids=[]) == 0
    assert store.renew("a", 3600, ids=[record.id]) == 1
    renewed = store.get(record.id)
    assert renewed is not None and renewed.lease_until > record.lease_until + 3000
    assert store.orphans(10) == []
    assert store.release(record.id, "a")
    assert [o.id for o in store.orphans(10)] == [record.id]


def test_a_failed_request_is_claimed_again(backend: Backend) -> None:
    store = backend.open()
    record, _ = store.claim("k", "shap", TASK, "a", 30)
    assert store.fail(record.id, "a", {"code": "model_unavailable", "status": 503})
    failed = store.get(record.id)
    assert failed is not None and failed.error == {"code": "model_unavailable", "status": 503}
    again, held = store.claim("k", "shap", TASK, "b", 30)
    assert held and again.id == record.id and again.status is Status.pending
    assert again.error is None


def test_an_explanation_in_an_older_schema_reads_as_failed_and_is_computed_again(
    backend: Backend,
) -> None:
    store = backend.open()
    record, _ = store.claim("k", "anchors", TASK, "a", 30)
    store.close()
    backend.execute(
        "UPDATE explanations SET status = 'done', explanation = ? WHERE id = ?",
        (json.dumps(OLD_ANCHORS), record.id),
    )
    store = backend.open()
    stale = store.get(record.id)
    assert stale is not None and stale.status is Status.failed
    assert stale.explanation is None and stale.error["code"] == "stale"  # type: ignore[index]
    assert [r.id for r in store.recent(10)] == [record.id]  # listing does not break
    again, held = store.claim("k", "anchors", TASK, "a", 30)
    assert held and again.id == record.id
    explanation = envelope()
    assert store.finish(record.id, "a", explanation)
    done = store.get(record.id)
    assert done is not None and done.status is Status.done and done.explanation == explanation


def test_retention_deletes_what_finished_long_ago_and_keeps_the_rest(backend: Backend) -> None:
    store = backend.open()
    ids = {}
    for name in ("old-done", "old-failed", "old-pending", "new-done"):
        ids[name] = store.claim(name, "shap", TASK, "a", 3600)[0].id
    assert store.finish(ids["old-done"], "a", envelope())
    assert store.fail(ids["old-failed"], "a", {"code": "model_error", "status": 502})
    assert store.finish(ids["new-done"], "a", envelope())
    for name in ("old-done", "old-failed", "old-pending"):
        backend.execute(
            "UPDATE explanations SET updated_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?",
            (ids[name],),
        )
    assert store.purge(older_than_days=30) == 2
    assert store.get(ids["old-done"]) is None and store.get(ids["old-failed"]) is None
    assert store.get(ids["old-pending"]) is not None  # accepted work is never dropped
    assert store.get(ids["new-done"]) is not None
    assert store.purge(older_than_days=30) == 0


def test_the_schema_is_versioned_and_one_newer_than_the_release_is_refused(
    backend: Backend,
) -> None:
    with ThreadPoolExecutor(3) as threads:  # replicas starting together migrate it once
        stores = list(threads.map(lambda _: backend.open(), range(3)))
    versions = {store.schema_version() for store in stores}
    assert len(versions) == 1 and versions.pop() >= 1
    backend.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match=r"schema version 999.*upgrade the service"):
        backend.open()


def test_a_file_of_the_first_layout_gets_the_new_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    explanation = envelope()
    with connected(path) as db:
        db.execute(
            "CREATE TABLE explanations (id TEXT PRIMARY KEY, method TEXT NOT NULL, "
            "status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
            "explanation TEXT, error TEXT)"
        )
        db.execute(
            "INSERT INTO explanations VALUES ('old', 'shap', 'done', '2026-01-01', "
            "'2026-01-01', ?, NULL)",
            (explanation.model_dump_json(),),
        )
    with closing(SqliteStore(path)) as store:
        old = store.get("old")
        assert old is not None and old.status is Status.done and old.explanation == explanation
        assert old.key is None and old.task is None
        assert store.orphans(10) == []
        assert store.schema_version() == 5  # and the inference log's tables, the probe's
        assert store.count_inferences() == 0
        record, held = store.claim("k", "shap", TASK, "a", 30)  # the new columns work
        assert held and store.find("k").id == record.id  # type: ignore[union-attr]


# --- PostgreSQL: the URL, credentials, and messages that never hold a password -------------


def test_a_url_is_masked_wherever_it_holds_a_password() -> None:
    assert masked("postgresql://app:s3cr%40t@db:5432/x?sslmode=require") == (
        "postgresql://app:***@db:5432/x?sslmode=require"
    )
    assert masked("postgresql://db/x?user=app&password=s3cret") == (
        "postgresql://db/x?user=app&password=***"
    )
    assert masked("postgresql://app@db/x") == "postgresql://app@db/x"


def test_open_store_chooses_the_backend_by_the_location(postgres: Cluster) -> None:
    sqlite = open_store(":memory:")
    shared = open_store(postgres.url(), password_file=postgres.password_file)
    try:
        assert isinstance(sqlite, SqliteStore) and isinstance(shared, PostgresStore)
        assert shared.location == postgres.url()
    finally:
        sqlite.close()
        shared.close()


def test_a_wrong_or_missing_password_is_refused_without_being_repeated(
    postgres: Cluster, tmp_path: Path
) -> None:
    wrong = "not-the-password-4711"
    url = postgres.url().replace("explainer@", f"explainer:{wrong}@")
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "password authentication failed" in message
    assert wrong not in message and "explainer:***@127.0.0.1" in message
    secret = tmp_path / "password"
    secret.write_text(wrong + "\n")
    with pytest.raises(StoreError) as info:
        open_store(postgres.url(), password_file=secret)
    assert "password authentication failed" in str(info.value) and wrong not in str(info.value)
    with pytest.raises(StoreError, match="cannot read the store's password file"):
        open_store(postgres.url(), password_file=tmp_path / "missing")


def test_connections_a_server_restart_cut_are_replaced(postgres: Cluster) -> None:
    store = open_store(
        postgres.url(postgres.create_database()), password_file=postgres.password_file
    )
    try:
        record, _ = store.claim("k", "shap", TASK, "a", 30)
        postgres.restart()
        assert all(store.get(record.id) is not None for _ in range(8))
    finally:
        store.close()


def test_ping_answers_while_the_database_is_there(backend: Backend) -> None:
    backend.open().ping()


def test_ping_is_a_store_error_once_the_database_is_gone(postgres: Cluster) -> None:
    name = postgres.create_database()
    store = open_store(postgres.url(name), password_file=postgres.password_file)
    try:
        store.ping()
        with postgres.connect() as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        with pytest.raises(StoreError) as info:
            store.ping()
        assert postgres.password not in str(info.value)
    finally:
        store.close()


def test_an_unreachable_server_is_a_store_error_naming_the_masked_url() -> None:
    url = f"postgresql://explainer:hunter22@127.0.0.1:{free_port()}/x"
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "cannot connect to the store postgresql://explainer:***@127.0.0.1" in str(info.value)
    assert "hunter22" not in str(info.value)


# --- a store that cannot be used: every driver error is a StoreError -------------------


def a_real_database(path: Path, rows: int = 300) -> Path:
    store = SqliteStore(path)
    for n in range(rows):
        store.claim(f"k{n}", "shap", {**TASK, "pad": "x" * 2000}, "a", 30)
    store.close()
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 64)
    return path


def truncated(path: Path) -> Path:
    a_real_database(path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    return path


def a_directory(path: Path) -> Path:
    path.mkdir()
    return path


def under_a_file(path: Path) -> Path:
    path.write_text("a file, not a folder")
    return path / "store.sqlite"


@pytest.mark.parametrize("broken", [garbage, truncated, a_directory, under_a_file])
def test_a_sqlite_file_that_cannot_be_opened_is_a_store_error_naming_it(
    broken: Any, tmp_path: Path
) -> None:
    path = broken(tmp_path / "store.sqlite")
    with pytest.raises(StoreError, match="cannot open the store") as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


def test_a_sqlite_store_that_turns_read_only_is_a_store_error_at_use(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite")
    try:
        record, _ = store.claim("k", "shap", TASK, "a", 30)
        store._db.execute("PRAGMA query_only = ON")  # as a read-only file or mount answers
        with pytest.raises(StoreError, match="readonly") as info:
            store.fail(record.id, "a", {"code": "x"})
        assert str(tmp_path) in str(info.value)
        with pytest.raises(StoreError, match="readonly"):
            store.claim("k2", "shap", TASK, "a", 30)  # atomic: rolled back, the lock freed
        assert store.get(record.id) is not None  # reading still works
    finally:
        store.close()


def test_a_sqlite_file_corrupted_while_open_is_a_store_error_at_use(tmp_path: Path) -> None:
    path = a_real_database(tmp_path / "store.sqlite")
    store = SqliteStore(path)
    try:
        with path.open("r+b") as file:  # every page after the first is garbage now
            file.seek(4096)
            file.write(bytes(range(256)) * (path.stat().st_size // 256))
        with pytest.raises(StoreError, match=r"malformed|not a database"):
            store.recent(1000)
    finally:
        store.close()


def test_a_postgresql_database_that_turns_read_only_is_a_store_error_at_use(
    postgres: Cluster,
) -> None:
    name = postgres.create_database()
    store = open_store(postgres.url(name), password_file=postgres.password_file, pool_size=1)
    try:
        record, _ = store.claim("k", "shap", TASK, "a", 30)
        with postgres.connect() as db:
            db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )  # the pool's next connection reads the new default
        with pytest.raises(StoreError, match="read-only") as info:
            store.fail(record.id, "a", {"code": "x"})
        assert postgres.password not in str(info.value)
    finally:
        store.close()
