"""The explanation store: random ids, cache keys, leases, take-overs, older files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from explainer_service.store import Status, Store, cache_key
from tests.test_explanation import envelope

OLD_ANCHORS = {
    "schema_version": "1.0",
    "method": "anchors",
    "fidelity": {"method": "anchors", "search_rule": ["age > 28.00"], "extended": False},
}
TASK = {"method": "shap", "row": [1, "a"], "params": {"seed": 0}}


def test_ids_are_random_and_one_key_has_one_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    key = cache_key({"instance": [1, "a"]})
    first, held = store.claim(key, "shap", TASK, "a", 30)
    assert held and first.status is Status.pending and first.task == TASK
    again, held_again = store.claim(key, "shap", TASK, "b", 30)
    assert again.id == first.id and not held_again  # "a" holds it
    other, _ = store.claim(cache_key({"instance": [2, "a"]}), "shap", TASK, "a", 30)
    assert other.id != first.id
    assert key[:22] not in (first.id, other.id) and len(first.id) >= 22
    assert store.find(key).id == first.id  # type: ignore[union-attr]


def expire(path: Path, id: str) -> None:
    """What time does to the lease of a holder that stopped renewing it."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE explanations SET lease_until = 0 WHERE id = ?", (id,))


def test_a_lease_that_expires_is_taken_over_once_and_the_old_holder_cannot_finish(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    one, two = Store(path), Store(path)  # two processes' connections to one file
    record, _ = one.claim("k", "shap", TASK, "dead", 3600)
    assert one.start(record.id, "dead")
    assert two.orphans(10) == []
    assert not two.take_over(record.id, "alive", 30)  # its lease holds
    expire(path, record.id)
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


def test_renewing_extends_a_lease_and_releasing_hands_it_on_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    record, _ = store.claim("k", "shap", TASK, "a", 10)
    assert store.renew("a", 3600) == 1 and store.renew("b", 3600) == 0
    renewed = store.get(record.id)
    assert renewed is not None and renewed.lease_until > record.lease_until + 3000
    assert store.orphans(10) == []
    assert store.release(record.id, "a")
    assert [o.id for o in store.orphans(10)] == [record.id]


def test_a_failed_request_is_claimed_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    record, _ = store.claim("k", "shap", TASK, "a", 30)
    assert store.fail(record.id, "a", {"code": "model_unavailable", "status": 503})
    again, held = store.claim("k", "shap", TASK, "b", 30)
    assert held and again.id == record.id and again.status is Status.pending
    assert again.error is None


def test_an_explanation_in_an_older_schema_reads_as_failed_and_is_computed_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    store = Store(path)
    record, _ = store.claim("k", "anchors", TASK, "a", 30)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE explanations SET status = 'done', explanation = ? WHERE id = ?",
            (json.dumps(OLD_ANCHORS), record.id),
        )
    store = Store(path)
    stale = store.get(record.id)
    assert stale is not None and stale.status is Status.failed
    assert stale.explanation is None and stale.error["code"] == "stale"
    assert [r.id for r in store.recent(10)] == [record.id]  # listing does not break
    again, held = store.claim("k", "anchors", TASK, "a", 30)
    assert held and again.id == record.id
    explanation = envelope()
    assert store.finish(record.id, "a", explanation)
    done = store.get(record.id)
    assert done is not None and done.status is Status.done and done.explanation == explanation


def test_a_file_of_the_first_layout_gets_the_new_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    explanation = envelope()
    with sqlite3.connect(path) as db:
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
    store = Store(path)
    old = store.get("old")
    assert old is not None and old.status is Status.done and old.explanation == explanation
    assert old.key is None and old.task is None
    assert store.orphans(10) == []
