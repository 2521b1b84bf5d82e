"""The shared store: PostgreSQL, for several replicas (on several machines) behind a load
balancer. The same rows, leases and SQL as the SQLite store.

Connections come from a pool (``psycopg_pool``), checked before each use, so a database
restart costs reconnections, not failed requests. The password is never in a message or a
log line: ``location`` is the URL with it masked, and connection errors are scrubbed of
it. It comes, in libpq's order, from the URL (discouraged), ``password_file``, or libpq's
own ``PGPASSWORD`` / ``PGPASSFILE`` (``~/.pgpass``); so do ``PGUSER``, ``PGHOST``, ...

Lease times are each replica's clock: keep the replicas' clocks in step (NTP) to well
within ``service.lease_s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from explainer_service.errors import StoreError
from explainer_service.store import inferences
from explainer_service.store.base import PROBE_MIGRATION, Cursor, Migration, Session, Store

MIGRATIONS: list[Migration] = [
    (
        "CREATE TABLE explanations (id TEXT PRIMARY KEY, method TEXT NOT NULL, "
        "status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "explanation TEXT, error TEXT, key TEXT, task TEXT, owner TEXT, "
        "lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX explanations_created ON explanations (created_at)",
        "CREATE UNIQUE INDEX explanations_key ON explanations (key)",
        "CREATE INDEX explanations_active ON explanations (status, lease_until)",
        "CREATE INDEX explanations_updated ON explanations (updated_at)",
    ),
    inferences.MIGRATION,
    PROBE_MIGRATION,
]

#: The advisory lock that lets one replica at a time migrate the schema.
SCHEMA_LOCK = 0x6578706C61696E  # "explain"


def masked(url: str) -> str:
    """``url`` with its password (in the user part or a ``password`` parameter) as ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, hosts = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{hosts}"
    query = urlencode(
        [
            (name, "***" if name == "password" else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class _Connection:
    """A pooled connection with the shared SQL's ``?`` placeholders (the SQL holds no other
    ``?`` and no ``%``)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, args: tuple[Any, ...] = (), /) -> Cursor:
        return self._connection.execute(sql.replace("?", "%s"), args)


class PostgresStore(Store):
    """``url``: ``postgresql://[user@]host[:port]/database[?options]`` (libpq's URL).
    ``pool_size``: connections at most, per process. Raises ``StoreError`` when the
    database cannot be reached or its schema is newer than this release."""

    def __init__(
        self,
        url: str,
        *,
        password_file: Path | None = None,
        pool_size: int = 4,
        connect_timeout_s: int = 10,
    ) -> None:
        self.location = masked(url)
        given = (urlsplit(url).password, _query_password(url))
        self._secrets = [s for p in given if p for s in (p, unquote(p))]
        options: dict[str, Any] = {"connect_timeout": connect_timeout_s}
        if password_file is not None:
            options["password"] = _read_password(password_file)
            self._secrets.append(options["password"])
        try:  # one connection first: its error says why, where the pool's would time out
            psycopg.connect(url, **options).close()
        except psycopg.Error as exc:
            why = self._scrub(exc)
            raise StoreError(f"cannot connect to the store {self.location}: {why}") from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs=options,
            open=False,
            check=ConnectionPool.check_connection,
            # how long a caller waits for a connection (psycopg_pool's default: 30 s): a
            # request or a readiness check that meets the database gone fails after this
            timeout=connect_timeout_s,
            # psycopg_pool retries a lost connection with a doubling delay until this much
            # time has passed, then lets the next caller start over from a short delay: so
            # a database back after an outage is noticed within a few of these, not after
            # an ever-growing wait (its default: 5 minutes)
            reconnect_timeout=max(30.0, connect_timeout_s * 3.0),
            name="explanation-store",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s * 3)
            self._migrate(MIGRATIONS)
        except BaseException as exc:
            self._pool.close()
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"the store {self.location} failed: {self._scrub(exc)}") from None
            raise

    @contextmanager
    def _session(self, atomic: bool = False) -> Iterator[Session]:
        """One transaction (committed at the end of the block, rolled back on an error).
        Every psycopg error (the database gone, read-only, its disk full, corrupted) is
        raised as a ``StoreError``."""
        try:
            with self._pool.connection() as connection:
                yield _Connection(connection)
        except psycopg.Error as exc:
            raise StoreError(f"the store {self.location} failed: {self._scrub(exc)}") from None

    def _lock_schema(self, db: Session) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))

    def _scrub(self, error: Exception) -> str:
        text = str(error).strip()
        for secret in filter(None, self._secrets):
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._pool.close()


def _query_password(url: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query)).get("password")


def _read_password(path: Path) -> str:
    """The first line of ``path`` (a mounted secret holds the password alone)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise StoreError(f"cannot read the store's password file {path}: {exc.strerror}") from None
    return lines[0] if lines else ""
