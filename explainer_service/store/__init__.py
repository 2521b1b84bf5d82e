"""The explanation store: JSON only (never pickles), durable jobs with leases.

One interface (``Store``), two backends: ``SqliteStore`` (embedded, the default) and
``PostgresStore`` (shared by replicas), chosen by ``open_store`` from ``service.store``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from explainer_service.errors import StoreError
from explainer_service.store.base import Store
from explainer_service.store.record import ACTIVE, Record, Status, cache_key, new_id
from explainer_service.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from explainer_service.settings import ServiceSettings

__all__ = [
    "ACTIVE",
    "Record",
    "SqliteStore",
    "Status",
    "Store",
    "StoreError",
    "cache_key",
    "is_postgres",
    "new_id",
    "open_configured_store",
    "open_store",
]


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(
    location: str,
    *,
    password_file: Path | None = None,
    pool_size: int = 4,
    timeout_s: int = 10,
) -> Store:
    """The store at ``location``: a ``postgresql://`` URL (``password_file``, ``pool_size``
    and ``timeout_s`` apply to it), else a SQLite file or ``:memory:``. Raises ``StoreError``."""
    if is_postgres(location):
        from explainer_service.store.postgres import PostgresStore  # psycopg only when used

        return PostgresStore(
            location, password_file=password_file, pool_size=pool_size, connect_timeout_s=timeout_s
        )
    return SqliteStore(location)


def open_configured_store(config: ServiceSettings) -> Store:
    """The store ``service.store`` names, with its password file, pool size and timeout."""
    return open_store(
        config.store,
        password_file=config.store_password_file,
        pool_size=config.store_pool_size,
        timeout_s=config.store_timeout_s,
    )
