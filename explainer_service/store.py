"""The explanation store: SQLite, JSON only (never pickles), ids that are content hashes.

An id is the sha256 of (model name, model version, method, resolved parameters, instance),
so the same request asked twice shares one row and is answered without calling the model.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from explainers import Explanation


class Status(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


@dataclass
class Record:
    id: str
    method: str
    status: Status
    created_at: str
    updated_at: str
    explanation: Explanation | None
    error: dict[str, Any] | None


def explanation_id(
    model: str, version: str | None, method: str, params: dict[str, Any], instance: Any
) -> str:
    """A stable id for one explanation request (a content hash)."""
    key = json.dumps(
        {
            "model": model,
            "version": version,
            "method": method,
            "params": params,
            "instance": instance,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS explanations (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    explanation TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS explanations_created ON explanations (created_at);
"""


_COLUMNS = "id, method, status, created_at, updated_at, explanation, error"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Thread-safe; ``path`` is a file or ``:memory:``."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        # a process that stopped mid-explanation leaves rows that will never finish
        with self._lock:
            self._db.execute(
                "UPDATE explanations SET status = ?, error = ?, updated_at = ? "
                "WHERE status IN (?, ?)",
                (
                    Status.failed,
                    json.dumps({"code": "interrupted", "message": "the service stopped first"}),
                    _now(),
                    Status.pending,
                    Status.running,
                ),
            )

    def get(self, id: str) -> Record | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM explanations WHERE id = ?",
                (id,),
            ).fetchone()
        return _record(row) if row else None

    def claim(self, id: str, method: str) -> None:
        """Mark ``id`` pending: a new row, or a failed one tried again."""
        now = _now()
        with self._lock:
            self._db.execute(
                "INSERT INTO explanations (id, method, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                "updated_at = excluded.updated_at, error = NULL WHERE explanations.status = ?",
                (id, method, Status.pending, now, now, Status.failed),
            )

    def set_status(self, id: str, status: Status) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE explanations SET status = ?, updated_at = ? WHERE id = ?",
                (status, _now(), id),
            )

    def finish(self, id: str, explanation: Explanation) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE explanations SET status = ?, explanation = ?, error = NULL, updated_at = ? "
                "WHERE id = ?",
                (Status.done, explanation.model_dump_json(), _now(), id),
            )

    def fail(self, id: str, error: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE explanations SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (Status.failed, json.dumps(error), _now(), id),
            )

    def recent(self, limit: int) -> list[Record]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM explanations ORDER BY created_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_record(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: tuple[Any, ...]) -> Record:
    """A stored row; an explanation stored in an older schema reads as failed, so that asking
    again computes it anew."""
    id, method, status, created, updated, explanation, error = row
    try:
        parsed = Explanation.model_validate_json(explanation) if explanation else None
    except ValidationError:
        return Record(id, method, Status.failed, created, updated, None, _STALE)
    return Record(
        id=id,
        method=method,
        status=Status(status),
        created_at=created,
        updated_at=updated,
        explanation=parsed,
        error=json.loads(error) if error else None,
    )


_STALE = {
    "code": "stale",
    "message": "stored by an older version of the service; ask again to compute it anew",
    "detail": {},
    "status": 410,
}
