"""What a batch explains: the rows of an input file, each checked as the service checks a
request.

- ``.jsonl``: one JSON value per line, a logged inference payload in the model's protocol
  (every row of it is explained) or one record ``{feature: value}``;
- ``.csv``, ``.parquet``: one feature row per line; the columns named as the features
  (others, such as an id or the target, are left alone).

A line that cannot be read (not JSON, not the protocol, a wrong category) becomes an
``Item`` with its error, so the other lines go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explainer_service.errors import (
    ExplainerServiceError,
    MalformedJsonError,
    PayloadError,
    problem_of,
)
from explainer_service.presentation.inputs import record_of
from explainer_service.runtime import Runtime
from explainers import ExplainerError

#: The suffixes ``read_items`` reads.
SUFFIXES = (".jsonl", ".csv", ".parquet")


class InputError(ExplainerServiceError):
    """The input file as a whole cannot be read (missing, unknown suffix, no feature column)."""


@dataclass(frozen=True)
class Item:
    """Row ``instance`` of line ``row`` (both from 0): its wire values in schema order, or
    the error (``{"code", "message", "status"}``) that kept it from being explained."""

    row: int
    instance: int
    values: list[Any] | None
    error: dict[str, Any] | None = None


def read_items(path: Path, runtime: Runtime) -> list[Item]:
    """Every row of ``path`` to explain. Raises ``InputError`` for a file it cannot read."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: expected one of {', '.join(SUFFIXES)}, not {suffix!r}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if suffix == ".jsonl":
        return list(_jsonl(path, runtime))
    return list(_table(path, runtime))


def items_of(values: list[Any], runtime: Runtime) -> list[Item]:
    """The items of ``values``, each a payload or a record, as the lines of a ``.jsonl``
    file (``POST /batches`` sends them so)."""
    return [item for row, value in enumerate(values) for item in _items(row, value, runtime)]


def _jsonl(path: Path, runtime: Runtime) -> Iterator[Item]:
    with path.open(encoding="utf-8") as lines:
        for row, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield Item(row, 0, None, _error(MalformedJsonError(f"not JSON: {exc}")))
                continue
            yield from _items(row, value, runtime)


def _table(path: Path, runtime: Runtime) -> Iterator[Item]:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"{path}: cannot read it: {exc}") from None
    names = runtime.schema.names
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(f"{path}: no column for the features {missing}")
    for row, (_, series) in enumerate(frame[names].iterrows()):
        yield from _items(row, record_of(series), runtime)


def _items(row: int, value: Any, runtime: Runtime) -> Iterator[Item]:
    """The rows of one line: a record, or a payload in the model's protocol."""
    record = record_of(value)
    payload = {"instances": [record]} if record is not None else value
    try:
        rows = runtime.rows(payload)
        if not rows:
            raise PayloadError("the payload holds no rows")
        runtime.schema.normalise(rows)  # a wrong category is this line's error, as a request's
    except (ExplainerServiceError, ExplainerError) as exc:
        yield Item(row, 0, None, _error(exc))
        return
    except ValueError as exc:
        yield Item(row, 0, None, _error(PayloadError(str(exc))))
        return
    for instance, values in enumerate(rows):
        yield Item(row, instance, values)


def _error(exc: Exception) -> dict[str, Any]:
    """The error as the service would answer it, with its HTTP status (as stored)."""
    return problem_of(exc).record()
