"""The explanation store: SQLite, JSON only (never pickles), durable jobs with leases.

Each row is one explanation request. ``id`` is random (``secrets.token_urlsafe``): it is
what clients see and cannot be computed from an applicant's attributes. ``key`` is the
cache key (a hash of the model, the reference data, the engine versions, the method, its
parameters and the canonical instance): a request whose key is stored is answered from it.

A row holds its ``task`` (what a worker needs to compute it), so an accepted request
survives its process. The process computing a row holds a lease on it (``owner``,
``lease_until``) and renews it while it lives; a pending or running row whose lease has
expired (its holder died) is taken over by the next process that looks, at most one at a
time, because taking it is one conditional UPDATE.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
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


ACTIVE = (Status.pending, Status.running)


@dataclass
class Record:
    id: str
    method: str
    status: Status
    created_at: str
    updated_at: str
    explanation: Explanation | None
    error: dict[str, Any] | None
    owner: str | None = None
    lease_until: float = 0.0
    attempts: int = 0
    task: dict[str, Any] | None = None
    key: str | None = None

    def leased(self, now: float | None = None) -> bool:
        """Pending or running, and its holder's lease has not expired."""
        return self.status in ACTIVE and self.lease_until > (now or time.time())


def cache_key(parts: dict[str, Any]) -> str:
    """The sha256 of ``parts`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def new_id() -> str:
    """A random public id (128 bits)."""
    return secrets.token_urlsafe(16)


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

#: Columns added after the first release; ALTER TABLE adds them to an older file.
_ADDED = {
    "key": "TEXT",
    "task": "TEXT",
    "owner": "TEXT",
    "lease_until": "REAL NOT NULL DEFAULT 0",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
}

_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS explanations_key ON explanations (key);
CREATE INDEX IF NOT EXISTS explanations_active ON explanations (status, lease_until);
"""

_COLUMNS = (
    "id, method, status, created_at, updated_at, explanation, error, owner, lease_until, "
    "attempts, task, key"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Thread-safe, and safe for several processes sharing one file (SQLite's locking).

    ``path`` is a file or ``:memory:``.
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(explanations)")}
        for column, kind in _ADDED.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE explanations ADD COLUMN {column} {kind}")
        self._db.executescript(_INDEXES)
        self._lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------

    def get(self, id: str) -> Record | None:
        return self._one("WHERE id = ?", (id,))

    def find(self, key: str) -> Record | None:
        """The row of a cache key, if any."""
        return self._one("WHERE key = ?", (key,))

    def recent(self, limit: int) -> list[Record]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM explanations ORDER BY created_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_record(row) for row in rows]

    def orphans(self, limit: int) -> list[Record]:
        """Pending or running rows whose lease has expired, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM explanations WHERE status IN (?, ?) "
                "AND lease_until < ? AND task IS NOT NULL ORDER BY created_at LIMIT ?",
                (*ACTIVE, time.time(), limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def _one(self, where: str, args: tuple[Any, ...]) -> Record | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM explanations {where}", args).fetchone()
        return _record(row) if row else None

    # --- jobs ---------------------------------------------------------------------------

    def claim(
        self, key: str, method: str, task: dict[str, Any], owner: str, lease_s: float
    ) -> tuple[Record, bool]:
        """Take the row of ``key`` for ``owner``: a new one, or one that failed or whose
        lease expired. Answers the row and whether ``owner`` now holds it (False: it is
        done, or another live process holds it)."""
        now, stamp = time.time(), _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                old = self._db.execute(
                    f"SELECT {_COLUMNS} FROM explanations WHERE key = ?", (key,)
                ).fetchone()
                if old is not None and old[2] == Status.done and _record(old).error is _STALE:
                    self._db.execute(
                        "UPDATE explanations SET status = ? WHERE key = ?", (Status.failed, key)
                    )
                taken = self._db.execute(
                    "INSERT INTO explanations (id, key, method, status, created_at, updated_at, "
                    "task, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET status = excluded.status, "
                    "updated_at = excluded.updated_at, task = excluded.task, "
                    "owner = excluded.owner, lease_until = excluded.lease_until, error = NULL "
                    "WHERE explanations.status = ? "
                    "OR (explanations.status IN (?, ?) AND explanations.lease_until < ?)",
                    (
                        new_id(),
                        key,
                        method,
                        Status.pending,
                        stamp,
                        stamp,
                        json.dumps(task),
                        owner,
                        now + lease_s,
                        Status.failed,
                        *ACTIVE,
                        now,
                    ),
                ).rowcount  # 0 when the conflict's WHERE kept the row as it was
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM explanations WHERE key = ?", (key,)
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _record(row), taken == 1

    def take_over(self, id: str, owner: str, lease_s: float) -> bool:
        """Take an orphan (pending or running, lease expired) for ``owner``."""
        now = time.time()
        return self._update(
            "SET owner = ?, lease_until = ?, status = ?, updated_at = ? "
            "WHERE id = ? AND status IN (?, ?) AND lease_until < ?",
            (owner, now + lease_s, Status.pending, _now(), id, *ACTIVE, now),
        )

    def start(self, id: str, owner: str) -> bool:
        """A worker starts ``id``: running, one more attempt. False when ``owner`` lost it."""
        return self._update(
            "SET status = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? AND owner = ?",
            (Status.running, _now(), id, owner),
        )

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease ``owner`` holds; answers how many."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE explanations SET lease_until = ? WHERE owner = ? AND status IN (?, ?)",
                (time.time() + lease_s, owner, *ACTIVE),
            )
        return cursor.rowcount

    def release(self, id: str, owner: str) -> bool:
        """Give up ``id`` unfinished (the process stops): another may take it at once."""
        return self._update(
            "SET status = ?, lease_until = 0, owner = NULL, updated_at = ? "
            "WHERE id = ? AND owner = ? AND status IN (?, ?)",
            (Status.pending, _now(), id, owner, *ACTIVE),
        )

    def finish(self, id: str, owner: str, explanation: Explanation) -> bool:
        """Store the answer, if ``owner`` still holds ``id``."""
        return self._update(
            "SET status = ?, explanation = ?, error = NULL, owner = NULL, lease_until = 0, "
            "updated_at = ? WHERE id = ? AND owner = ?",
            (Status.done, explanation.model_dump_json(), _now(), id, owner),
        )

    def fail(self, id: str, owner: str, error: dict[str, Any]) -> bool:
        return self._update(
            "SET status = ?, error = ?, owner = NULL, lease_until = 0, updated_at = ? "
            "WHERE id = ? AND owner = ?",
            (Status.failed, json.dumps(error), _now(), id, owner),
        )

    def _update(self, clause: str, args: tuple[Any, ...]) -> bool:
        with self._lock:
            cursor = self._db.execute(f"UPDATE explanations {clause}", args)
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: tuple[Any, ...]) -> Record:
    """A stored row; an explanation stored in an older schema reads as failed, so that asking
    again computes it anew."""
    id, method, status, created, updated, explanation, error = row[:7]
    owner, lease, attempts, task, key = row[7:]
    common = {
        "owner": owner,
        "lease_until": lease or 0.0,
        "attempts": attempts or 0,
        "task": json.loads(task) if task else None,
        "key": key,
    }
    try:
        parsed = Explanation.model_validate_json(explanation) if explanation else None
    except ValidationError:
        return Record(id, method, Status.failed, created, updated, None, _STALE, **common)
    return Record(
        id=id,
        method=method,
        status=Status(status),
        created_at=created,
        updated_at=updated,
        explanation=parsed,
        error=json.loads(error) if error else None,
        **common,
    )


_STALE = {
    "code": "stale",
    "message": "stored by an older version of the service; ask again to compute it anew",
    "detail": {},
    "status": 410,
}
