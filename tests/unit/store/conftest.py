"""The store's backends for its tests: a SQLite file, and a database of a real PostgreSQL
server (tests/helpers/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from explainer_service.store import Store, open_store
from tests.helpers.postgres import Cluster
from tests.helpers.sqlite import connected


class Backend:
    """One empty database of a backend: stores opened on it (as separate processes would
    open it), and SQL run on it directly, as time or an older release would."""

    def __init__(self, location: str, password_file: Path | None = None) -> None:
        self.location = location
        self.password_file = password_file
        self._opened: list[Store] = []

    def open(self) -> Store:
        store = open_store(self.location, password_file=self.password_file, pool_size=2)
        self._opened.append(store)
        return store

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        if self.password_file is None:
            with connected(self.location) as db:
                db.execute(sql, args)
            return
        password = self.password_file.read_text().splitlines()[0]
        with psycopg.connect(self.location, password=password, autocommit=True) as db:
            db.execute(sql.replace("?", "%s"), args)

    def close(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        chosen = Backend(str(tmp_path / "s.sqlite"))
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        chosen = Backend(cluster.url(cluster.create_database()), cluster.password_file)
    try:
        yield chosen
    finally:
        chosen.close()
