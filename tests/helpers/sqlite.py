"""A test's own look into a SQLite store, closed when done: ``with sqlite3.connect(...)``
only commits (or rolls back), and Python 3.13 warns of a connection left to the garbage
collector (``ResourceWarning``, an error under the suite's ``-W error``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def connected(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` whose block is one transaction, closed when it ends."""
    with closing(sqlite3.connect(path)) as db, db:
        yield db
