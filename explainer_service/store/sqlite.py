"""The embedded store: one SQLite file (WAL), or ``:memory:``.

Several processes on one machine may share the file (SQLite's locking); replicas on
several machines need the PostgreSQL store. ``synchronous=NORMAL``: a commit is not synced
to disk on its own (WAL syncs at checkpoints), so what a process committed survives its
crash, and a crash of the machine (power, kernel) may lose the last commits before a
checkpoint; the file stays consistent either way. Measured on the inference log's ingest,
a sync per commit cost most of each event's time.

Every ``sqlite3`` error, at open and at use (a file that is not a database or is
corrupted, a path that cannot be opened, a read-only file, a full disk), becomes a
``StoreError`` naming the file (``_mapped``).

The file's identity (device and inode) is taken at open and checked before each use: a
file deleted or replaced while in use (the service would go on writing to the unlinked
one, and lose it all at the next start) is a ``StoreReplacedError`` until a restart.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from explainer_service.errors import StoreError, StoreReplacedError
from explainer_service.store import inferences
from explainer_service.store.base import PROBE_MIGRATION, Migration, Session, Store

#: Schema versions, in order. A file written before the version table existed is read as
#: version 1 (the first layout) or 2 (with keys and leases) by its columns.
MIGRATIONS: list[Migration] = [
    (
        "CREATE TABLE explanations (id TEXT PRIMARY KEY, method TEXT NOT NULL, "
        "status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "explanation TEXT, error TEXT)",
        "CREATE INDEX explanations_created ON explanations (created_at)",
    ),
    (
        "ALTER TABLE explanations ADD COLUMN key TEXT",
        "ALTER TABLE explanations ADD COLUMN task TEXT",
        "ALTER TABLE explanations ADD COLUMN owner TEXT",
        "ALTER TABLE explanations ADD COLUMN lease_until REAL NOT NULL DEFAULT 0",
        "ALTER TABLE explanations ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "CREATE UNIQUE INDEX explanations_key ON explanations (key)",
        "CREATE INDEX explanations_active ON explanations (status, lease_until)",
    ),
    ("CREATE INDEX explanations_updated ON explanations (updated_at)",),
    inferences.MIGRATION,
    PROBE_MIGRATION,
]


@contextmanager
def _mapped(doing: str) -> Iterator[None]:
    """Raises a ``sqlite3.Error`` or ``OSError`` of the block as a ``StoreError`` saying
    ``doing`` (which names the file) and why."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{doing}: {exc}") from None


class SqliteStore(Store):
    """``path``: a file (its folder is created) or ``:memory:``. Raises ``StoreError`` when
    it cannot be opened, or is not a database this release can use."""

    def __init__(self, path: str | Path) -> None:
        self.location = str(path)
        with _mapped(f"cannot open the store {self.location}"):
            if self.location != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.location, check_same_thread=False, isolation_level=None, timeout=30
            )
        self._lock = threading.Lock()
        #: (st_dev, st_ino) of the file opened; None for ``:memory:``
        self._identity: tuple[int, int] | None = None
        self._path = self.location
        try:
            with _mapped(f"cannot open the store {self.location}"):
                self._db.execute("PRAGMA journal_mode=WAL")
                # WAL's commits survive a crash of the process without a sync each; only a
                # crash of the machine may lose the last ones (docs/inference-log.md)
                self._db.execute("PRAGMA synchronous=NORMAL")
                if self.location != ":memory:":
                    self._path = os.path.abspath(self.location)  # the same file after a chdir
                    self._identity = _identity(self._path)
            self._migrate(MIGRATIONS)
        except BaseException:
            self._db.close()
            raise

    @contextmanager
    def _session(self, atomic: bool = False) -> Iterator[Session]:
        self._check_identity()
        with self._lock, _mapped(f"the store {self.location} failed"):
            if not atomic:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first write
            try:
                yield self._db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error says what went wrong
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_identity(self) -> None:
        """Raises ``StoreReplacedError`` when the path no longer names the file opened."""
        if self._identity is None:
            return
        try:
            now: tuple[int, int] | None = _identity(self._path)
        except FileNotFoundError:
            now = None
        except OSError as exc:
            raise StoreError(f"the store {self.location} failed: {exc}") from None
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreReplacedError(
                f"the store {self.location} was {what} while in use: restart the service "
                "to open the file now at that path"
            )

    def _lock_schema(self, db: Session) -> None:
        """Nothing more: ``BEGIN IMMEDIATE`` holds the file's write lock."""

    def _unversioned(self, db: Session) -> int:
        columns = {row[1] for row in db.execute("PRAGMA table_info(explanations)").fetchall()}
        if not columns:
            return 0
        return 2 if "key" in columns else 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _identity(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino
