"""The codec interface and the helpers every protocol shares.

A codec is the only place that knows a protocol. It works both ways:

- ``decode_request(body) -> rows``: an inference payload (as a caller sent it to the model)
  into rows of wire values in feature order;
- ``encode_request(rows) -> body``: rows into the JSON body the model expects;
- ``encode_response(scores) -> body``: what a model in this protocol answers (model side);
- ``decode_response(body) -> array``: the model's answer into an array, one entry per row.

Rows are lists of JSON scalars (str, int, float, bool or None); NaN and infinity are refused
because JSON cannot carry them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any, ClassVar

import numpy as np

from explainer_service.errors import CodecError
from explainers import wire
from explainers.errors import SchemaError
from explainers.schema import records_to_rows

Row = list[Any]
Rows = list[Row]
JSON = Any


def native(value: Any, field: str = "") -> Any:
    """A JSON scalar for ``value`` (numpy scalars unwrapped); NaN/inf and containers refused."""
    value = wire.native(value)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{value} cannot be sent as JSON", field=field or None)
        return value
    raise CodecError(
        f"expected a string or a number, got {type(value).__name__}", field=field or None
    )


def normalise_rows(rows: Any, n_features: int) -> Rows:
    """Rows (sequence of sequences or a 2-D array) as lists of JSON scalars, each of length d."""
    if isinstance(rows, np.ndarray):
        rows = rows.tolist() if rows.dtype != object else list(rows)
    plain = _already_plain(rows, n_features)
    if plain is not None:
        return plain
    out: Rows = []
    for i, row in enumerate(rows):
        if isinstance(row, str | bytes | Mapping) or not isinstance(row, Sequence | np.ndarray):
            raise CodecError(f"row {i} is not a list of values", field=f"[{i}]")
        if len(row) != n_features:
            raise CodecError(
                f"row {i} has {len(row)} values; expected {n_features}", field=f"[{i}]"
            )
        out.append([native(v, f"[{i}][{j}]") for j, v in enumerate(row)])
    return out


_PLAIN = frozenset({str, int, float, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})


def _already_plain(rows: Any, n_features: int) -> Rows | None:
    """Copies of ``rows`` when each is a list of ``n_features`` JSON scalars of exactly the
    built-in types, its numbers finite: what ``normalise_rows`` would give, checked over
    the whole batch at once instead of a value at a time. None when any row is otherwise."""
    if not isinstance(rows, list) or set(map(type, rows)) - {list}:
        return None
    if set(map(len, rows)) - {n_features}:
        return None
    flat = list(chain.from_iterable(rows))
    kinds = set(map(type, flat))
    if not kinds <= _PLAIN:
        return None
    if float in kinds:
        numbers = flat if kinds <= _NUMBERS else [v for v in flat if type(v) is float]
        try:
            finite = bool(np.isfinite(np.asarray(numbers, dtype=float)).all())
        except OverflowError:  # an int beyond a float's range: none of a model's features
            return None
        if not finite:
            return None
    return list(map(list, rows))


def require(body: Any, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """``body[key]`` checked to be of ``kind``, or a CodecError naming the path."""
    path = f"{where}.{key}" if where else key
    if not isinstance(body, Mapping):
        raise CodecError(f"expected a JSON object with {key!r}", field=where or None)
    if key not in body:
        raise CodecError(f"missing {path!r}", field=path)
    value = body[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CodecError(f"{path!r} must be a {_json_kind(names)}", field=path)
    return value


def _json_kind(python_names: str) -> str:
    return python_names.replace("list", "array").replace("dict", "object").replace("str", "string")


def rows_from_records(records: Any, names: Sequence[str], field: str) -> Rows:
    """A list of {feature: value} objects into rows; names must match exactly."""
    if not isinstance(records, list):
        raise CodecError(f"{field!r} must be an array of objects", field=field)
    try:
        return records_to_rows(records, names)
    except SchemaError as exc:
        raise CodecError(exc.message, field=exc.feature or field) from None


def table_rows(data: Any, n_features: int, field: str) -> Rows:
    """A JSON array of arrays (n, d) into rows."""
    if not isinstance(data, list):
        raise CodecError(f"{field!r} must be an array of rows", field=field)
    try:
        return normalise_rows(data, n_features)
    except CodecError as exc:
        raise CodecError(f"{field}: {exc.message}", field=f"{field}{exc.field or ''}") from None


def reorder(rows: Rows, given: Sequence[str], names: Sequence[str], field: str) -> Rows:
    """Rows whose columns are named ``given`` into ``names`` order."""
    if list(given) == list(names):
        return rows
    missing = [n for n in names if n not in given]
    extra = [g for g in given if g not in names]
    if missing or extra or len(given) != len(names):
        detail = "; ".join(
            p
            for p in (
                f"missing {missing}" if missing else "",
                f"unexpected {extra}" if extra else "",
            )
            if p
        )
        raise CodecError(
            f"{field!r} do not match the features: {detail or 'repeated names'}", field=field
        )
    index = [list(given).index(n) for n in names]
    return [[row[i] for i in index] for row in rows]


def nested_array(values: Any, field: str) -> np.ndarray:
    """A JSON (nested) array as a numpy array; ragged arrays refused."""
    if not isinstance(values, list):
        raise CodecError(f"{field!r} must be an array", field=field)
    try:
        array = np.array(values)
    except ValueError:
        raise CodecError(f"{field!r} is a ragged array", field=field) from None
    if array.dtype == object:
        raise CodecError(f"{field!r} is a ragged or mixed array", field=field)
    return array


class Codec(ABC):
    """One protocol, both ways. ``names`` are the feature names in schema order."""

    protocol: ClassVar[str]

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    @abstractmethod
    def encode_request(self, rows: Rows) -> JSON: ...

    @abstractmethod
    def decode_request(self, body: JSON) -> Rows: ...

    @abstractmethod
    def encode_response(self, scores: np.ndarray) -> JSON: ...

    @abstractmethod
    def decode_response(self, body: JSON) -> np.ndarray: ...


class PredictionsAnswer(Codec):
    """Answers as ``{"predictions": [...]}`` (KServe v1, MLflow 2, most model apps); a bare
    array (MLflow 1, plain apps) is read as well."""

    def encode_response(self, scores: np.ndarray) -> JSON:
        return {"predictions": np.asarray(scores).tolist()}

    def decode_response(self, body: JSON) -> np.ndarray:
        if isinstance(body, list):
            return nested_array(body, "(body)")
        return nested_array(require(body, "predictions", list), "predictions")
