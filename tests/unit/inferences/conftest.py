"""The store's backends (a SQLite file, a real PostgreSQL), for the ingest's tests too."""

from tests.unit.store.conftest import backend

__all__ = ["backend"]
