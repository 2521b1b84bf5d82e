"""The explanation store: explanations written by an older schema are computed anew."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from explainer_service.store import Status, Store
from tests.test_explanation import envelope

OLD_ANCHORS = {
    "schema_version": "1.0",
    "method": "anchors",
    "fidelity": {"method": "anchors", "search_rule": ["age > 28.00"], "extended": False},
}


def test_an_explanation_in_an_older_schema_reads_as_failed_and_is_computed_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO explanations (id, method, status, created_at, updated_at, explanation) "
            "VALUES ('old', 'anchors', 'done', '2026-01-01', '2026-01-01', ?)",
            (json.dumps(OLD_ANCHORS),),
        )
    store = Store(path)
    record = store.get("old")
    assert record is not None and record.status is Status.failed
    assert record.explanation is None and record.error["code"] == "stale"
    assert [r.id for r in store.recent(10)] == ["old"]  # listing does not break
    store.claim("old", "anchors")
    explanation = envelope()
    store.finish("old", explanation)
    again = store.get("old")
    assert again is not None and again.status is Status.done and again.explanation == explanation
    store.close()
