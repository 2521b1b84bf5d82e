"""The store's interface and the SQL both backends share.

Each row is one explanation request. ``id`` is random (``secrets.token_urlsafe``): it is
what clients see and cannot be computed from an applicant's attributes. ``key`` is the
cache key (a hash of the model, the reference data, the engine versions, the method, its
parameters and the canonical instance): a request whose key is stored is answered from it.

A row holds its ``task`` (what a worker needs to compute it), so an accepted request
survives its process. The process computing a row holds a lease on it (``owner``,
``lease_until``, seconds since the epoch by the holder's clock) and renews it while it
lives; a pending or running row whose lease has expired (its holder died) is taken over by
the next process that looks, at most one at a time, because taking it is one conditional
UPDATE.

The SQL is written once, with ``?`` placeholders, in the subset SQLite and PostgreSQL
share; a backend supplies sessions (``_session``) and its schema migrations.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from explainer_service.errors import StoreError
from explainer_service.store.inferences import InferenceLog
from explainer_service.store.record import (
    ACTIVE,
    COLUMNS,
    STALE,
    Record,
    Status,
    new_id,
    stamp,
    to_record,
)
from explainers import Explanation


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One connection for the length of a ``with`` block (``?`` placeholders)."""

    def execute(self, sql: str, args: tuple[Any, ...] = (), /) -> Cursor: ...


#: Ids per statement when leases are renewed by id (SQLite allows 32,766 parameters).
RENEW_CHUNK = 500

#: A migration: the statements that take the schema from one version to the next.
Migration = Sequence[str]

#: The one-row table the readiness probe writes to (both backends).
PROBE_MIGRATION: Migration = (
    "CREATE TABLE store_probe (id INTEGER PRIMARY KEY, checked_at DOUBLE PRECISION NOT NULL)",
)


class Store(InferenceLog, ABC):
    """The explanation store, and the inference log (``InferenceLog``): thread-safe, and
    safe for several processes sharing it."""

    #: where it is, for messages and logs (never with a password)
    location: str

    @abstractmethod
    def _session(self, atomic: bool = False) -> AbstractContextManager[Session]:
        """A connection for one block; ``atomic``: the block is one transaction that no
        other writer interleaves with (a read followed by writes that depend on it)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""

    # --- schema -------------------------------------------------------------------------

    def _migrate(self, steps: Sequence[Migration]) -> int:
        """Bring the schema to ``len(steps)``, applying the steps it lacks in order, in one
        transaction (processes starting together apply each once); answers the version.
        Raises ``StoreError`` for a schema newer than ``steps``."""
        with self._session(atomic=True) as db:
            self._lock_schema(db)
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            current = int(row[0]) if row else self._unversioned(db)
            if current > len(steps):
                raise StoreError(
                    f"the store {self.location} has schema version {current}; this release "
                    f"knows versions up to {len(steps)}: upgrade the service"
                )
            for step in steps[current:]:
                for statement in step:
                    db.execute(statement)
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (len(steps),))
            elif current < len(steps):
                db.execute("UPDATE schema_version SET version = ?", (len(steps),))
        return len(steps)

    @abstractmethod
    def _lock_schema(self, db: Session) -> None:
        """Keep other processes from migrating at the same time (inside the transaction)."""

    def _unversioned(self, db: Session) -> int:
        """The version of a schema written before the version table existed."""
        return 0

    def ping(self) -> None:
        """Raises ``StoreError`` when the store cannot be reached or cannot write (a
        readiness check): it reads, then commits a write to ``store_probe``. A write
        that changes nothing is not enough: SQLite would skip it, and a full disk, a size
        limit or a read-only database would go unnoticed until an answer is lost."""
        with self._session() as db:
            db.execute("SELECT version FROM schema_version").fetchone()
        with self._session() as db:
            db.execute(
                "INSERT INTO store_probe (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (time.time(),),
            )

    def schema_version(self) -> int:
        with self._session() as db:
            return int(db.execute("SELECT version FROM schema_version").fetchone()[0])

    # --- reading ------------------------------------------------------------------------

    def get(self, id: str) -> Record | None:
        return self._one("WHERE id = ?", (id,))

    def find(self, key: str) -> Record | None:
        """The row of a cache key, if any."""
        return self._one("WHERE key = ?", (key,))

    def recent(self, limit: int) -> list[Record]:
        return self._many("ORDER BY created_at DESC, id LIMIT ?", (limit,))

    def orphans(self, limit: int) -> list[Record]:
        """Pending or running rows whose lease has expired, oldest first."""
        return self._many(
            "WHERE status IN (?, ?) AND lease_until < ? AND task IS NOT NULL "
            "ORDER BY created_at LIMIT ?",
            (*ACTIVE, time.time(), limit),
        )

    def _one(self, where: str, args: tuple[Any, ...]) -> Record | None:
        with self._session() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM explanations {where}", args).fetchone()
        return to_record(row) if row else None

    def _many(self, where: str, args: tuple[Any, ...]) -> list[Record]:
        with self._session() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM explanations {where}", args).fetchall()
        return [to_record(row) for row in rows]

    # --- jobs ---------------------------------------------------------------------------

    def claim(
        self, key: str, method: str, task: dict[str, Any], owner: str, lease_s: float
    ) -> tuple[Record, bool]:
        """Take the row of ``key`` for ``owner``: a new one, or one that failed or whose
        lease expired. Answers the row and whether ``owner`` now holds it (False: it is
        done, or another live process holds it)."""
        now, at = time.time(), stamp()
        with self._session(atomic=True) as db:
            old = db.execute(f"SELECT {COLUMNS} FROM explanations WHERE key = ?", (key,)).fetchone()
            if old is not None and old[2] == Status.done and to_record(old).error is STALE:
                db.execute("UPDATE explanations SET status = ? WHERE key = ?", (Status.failed, key))
            taken = db.execute(
                "INSERT INTO explanations (id, key, method, status, created_at, updated_at, "
                "task, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = excluded.status, "
                "updated_at = excluded.updated_at, task = excluded.task, "
                "owner = excluded.owner, lease_until = excluded.lease_until, error = NULL "
                "WHERE explanations.status = ? "
                "OR (explanations.status IN (?, ?) AND explanations.lease_until < ?)",
                (
                    new_id(),
                    key,
                    method,
                    Status.pending,
                    at,
                    at,
                    json.dumps(task),
                    owner,
                    now + lease_s,
                    Status.failed,
                    *ACTIVE,
                    now,
                ),
            ).rowcount  # 0 when the conflict's WHERE kept the row as it was
            row = db.execute(f"SELECT {COLUMNS} FROM explanations WHERE key = ?", (key,)).fetchone()
        return to_record(row), taken == 1

    def take_over(self, id: str, owner: str, lease_s: float) -> bool:
        """Take an orphan (pending or running, lease expired) for ``owner``."""
        now = time.time()
        return self._update(
            "SET owner = ?, lease_until = ?, status = ?, updated_at = ? "
            "WHERE id = ? AND status IN (?, ?) AND lease_until < ?",
            (owner, now + lease_s, Status.pending, stamp(), id, *ACTIVE, now),
        )

    def start(self, id: str, owner: str) -> bool:
        """A worker starts ``id``: running, one more attempt. False when ``owner`` lost it."""
        return self._update(
            "SET status = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? AND owner = ?",
            (Status.running, stamp(), id, owner),
        )

    def renew(self, owner: str, lease_s: float, ids: Collection[str] | None = None) -> int:
        """Extend the leases ``owner`` holds (only those of ``ids``, when given); answers
        how many."""
        sql = "UPDATE explanations SET lease_until = ? WHERE owner = ? AND status IN (?, ?)"
        args = (time.time() + lease_s, owner, *ACTIVE)
        if ids is None:
            with self._session() as db:
                return db.execute(sql, args).rowcount
        chosen, renewed = list(ids), 0
        with self._session() as db:
            for start in range(0, len(chosen), RENEW_CHUNK):
                chunk = chosen[start : start + RENEW_CHUNK]
                marks = ", ".join("?" * len(chunk))
                renewed += db.execute(f"{sql} AND id IN ({marks})", (*args, *chunk)).rowcount
        return renewed

    def release(self, id: str, owner: str) -> bool:
        """Give up ``id`` unfinished (the process stops): another may take it at once."""
        return self._update(
            "SET status = ?, lease_until = 0, owner = NULL, updated_at = ? "
            "WHERE id = ? AND owner = ? AND status IN (?, ?)",
            (Status.pending, stamp(), id, owner, *ACTIVE),
        )

    def finish(self, id: str, owner: str, explanation: Explanation) -> bool:
        """Store the answer, if ``owner`` still holds ``id``."""
        return self._update(
            "SET status = ?, explanation = ?, error = NULL, owner = NULL, lease_until = 0, "
            "updated_at = ? WHERE id = ? AND owner = ?",
            (Status.done, explanation.model_dump_json(), stamp(), id, owner),
        )

    def fail(self, id: str, owner: str, error: dict[str, Any]) -> bool:
        return self._update(
            "SET status = ?, error = ?, owner = NULL, lease_until = 0, updated_at = ? "
            "WHERE id = ? AND owner = ?",
            (Status.failed, json.dumps(error), stamp(), id, owner),
        )

    def _update(self, clause: str, args: tuple[Any, ...]) -> bool:
        with self._session() as db:
            return db.execute(f"UPDATE explanations {clause}", args).rowcount == 1

    # --- retention ----------------------------------------------------------------------

    def purge(self, older_than_days: float) -> int:
        """Delete the explanations done or failed more than ``older_than_days`` days ago
        (by ``updated_at``); pending and running requests are kept. Answers how many."""
        with self._session() as db:
            return db.execute(
                "DELETE FROM explanations WHERE status IN (?, ?) AND updated_at < ?",
                (Status.done, Status.failed, stamp(ago_days=older_than_days)),
            ).rowcount
