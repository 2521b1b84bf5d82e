"""The feature schema: what each feature is and how it moves between two spaces.

*Wire values* are what the model receives: for a categorical feature the category's name,
its index or its own number (``WireFormat``), numbers for numeric ones. The *explainer
space* is a float matrix in which a categorical feature holds its ordinal code (the index of
the category in ``Feature.categories``). Rows are always in schema order.

Categories are kept as text (``"Private"``, ``"5"``); a number is written without a
fractional part when it has none (``5.0`` -> ``"5"``), so ``5``, ``5.0`` and ``"5"`` are one
category.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

from explainers.errors import (
    InvalidValueError,
    MissingFeatureError,
    SchemaError,
    UnexpectedFeatureError,
    UnknownCategoryError,
)
from explainers.tokens import checked_tokens
from explainers.wire import WireValue

#: below this, a float rounds to an ``int64`` exactly
_EXACT_INTEGERS = 2.0**53


class FeatureKind(StrEnum):
    numeric = "numeric"
    categorical = "categorical"
    text = "text"  # one free text; explained token by token (``explainers.text``)


class Direction(StrEnum):
    """Which way counterfactuals may move a numeric feature."""

    any = "any"
    increase = "increase"  # e.g. age: never lower than the instance's
    decrease = "decrease"


class WireFormat(StrEnum):
    """How a categorical feature travels to the model."""

    string = "string"  # the category itself, e.g. "Private"
    code = "code"  # its index in ``categories``: 0 for the first
    value = "value"  # the number the category is, e.g. 5 for "5" (numeric categories only)


def number_text(value: float) -> str:
    """A number as category text: ``5.0`` -> ``"5"``, ``2.5`` -> ``"2.5"``."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def as_number(value: Any) -> float | None:
    """The finite number ``value`` is or spells (``4``, ``4.0``, ``"4"``); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # "abc", 10**400
        return None
    return number if math.isfinite(number) else None


class Feature(BaseModel):
    name: str
    kind: FeatureKind
    categories: list[str] = Field(default_factory=list, description="categorical: code i <-> [i]")
    wire: WireFormat = WireFormat.string
    integer: bool = Field(False, description="numeric: the model receives whole numbers")
    immutable: bool = Field(False, description="counterfactuals must not change it")
    direction: Direction = Field(
        Direction.any, description="numeric: the only way counterfactuals may move it"
    )
    min: float | None = Field(None, description="numeric: lowest value (counterfactuals' range)")
    max: float | None = Field(None, description="numeric: highest value (counterfactuals' range)")
    label: str | None = Field(None, description="display name on pages; default: the name")
    missing: list[str] = Field(
        default_factory=list,
        description="categorical: categories that mean 'unknown' (e.g. '?'); counterfactuals "
        "never propose them",
    )
    max_chars: int = Field(10_000, ge=1, description="text: the longest text explained")
    max_tokens: int = Field(1_000, ge=1, description="text: the most tokens explained")
    _codes: dict[str, int] = PrivateAttr(default_factory=dict)  # category -> code
    _numbers: dict[float, int] = PrivateAttr(default_factory=dict)  # numeric category -> code

    @field_validator("categories", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """Numeric categories (``[1, 2, 5]`` in YAML) as text."""
        if isinstance(value, list | tuple):
            return [
                number_text(v) if as_number(v) is not None and not isinstance(v, str) else v
                for v in value
            ]
        return value

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.kind is FeatureKind.categorical:
            if not self.categories:
                raise ValueError(f"categorical feature {self.name!r} needs categories")
            self._codes = {c: i for i, c in enumerate(self.categories)}
            if len(self._codes) != len(self.categories):
                raise ValueError(f"categorical feature {self.name!r} repeats a category")
            numbers = [as_number(c) for c in self.categories]
            self._numbers = {}
            for code, number in enumerate(numbers):
                if number is not None:
                    self._numbers.setdefault(number, code)
            if self.wire is WireFormat.value and (
                None in numbers or len(self._numbers) != len(numbers)
            ):
                raise ValueError(
                    f"categorical feature {self.name!r}: wire 'value' needs categories that "
                    f"are distinct numbers, got {self.categories}"
                )
        unknown = [m for m in self.missing if m not in self._codes]
        if unknown:
            raise ValueError(f"feature {self.name!r}: missing {unknown} are not its categories")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} > max {self.max}")
        if self.kind is FeatureKind.categorical and self.direction is not Direction.any:
            raise ValueError(
                f"categorical feature {self.name!r} has no order: direction must be 'any'"
            )
        return self

    @property
    def is_categorical(self) -> bool:
        return self.kind is FeatureKind.categorical

    @property
    def is_text(self) -> bool:
        return self.kind is FeatureKind.text

    def check_text(self, value: Any) -> str:
        """``value``, a text within this feature's limits; raises ``InvalidValueError``
        (not a string, a lone surrogate) or ``TextLimitError`` naming the limit."""
        checked_tokens(self.name, value, self.max_chars, self.max_tokens)
        return str(value)

    @property
    def display(self) -> str:
        """The name shown to people: ``label``, else ``name``."""
        return self.label or self.name

    def encode(self, value: Any) -> float:
        """Wire value -> explainer space (ordinal code or float).

        A numeric feature takes a number, not its text; a finite one (JSON parsers read
        ``NaN`` and ``1e400``); a whole one when the feature is ``integer`` (``39`` or
        ``39.0``, not ``39.5``, which the model could not receive). Anything else raises
        ``InvalidValueError`` naming the feature.
        """
        if self.is_categorical:
            return float(self._code_of(value))
        if self.is_text:
            raise SchemaError(
                f"feature {self.name!r} is a text: it has no number", feature=self.name
            )
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InvalidValueError(self.name, value, "expected a number")
        number = as_number(value)
        if number is None:
            raise InvalidValueError(self.name, value, "expected a finite number")
        if self.integer and not number.is_integer():
            raise InvalidValueError(self.name, value, "expected a whole number")
        return number

    def decode(self, number: float) -> WireValue:
        """Explainer space -> wire value. Codes are rounded and clipped to a valid category."""
        if self.is_categorical:
            code = min(max(round(float(number)), 0), len(self.categories) - 1)
            if self.wire is WireFormat.code:
                return code
            if self.wire is WireFormat.value:
                return _plain(float(self.categories[code]))
            return self.categories[code]
        if self.integer:
            return round(float(number))
        return float(number)

    def decode_column(self, column: np.ndarray) -> list[WireValue]:
        """``decode`` of every number of a column at once (finite numbers below 2^53: what
        rounds to an ``int64`` exactly); the same values, without a Python call per value."""
        if self.is_categorical:
            codes = np.clip(np.rint(column), 0, len(self.categories) - 1).astype(np.int64)
            if self.wire is WireFormat.code:
                return list(codes.tolist())
            values = self.wire_values
            return [values[code] for code in codes.tolist()]
        if self.integer:
            return list(np.rint(column).astype(np.int64).tolist())
        return list(column.tolist())

    def code_of_category(self, category: str) -> int:
        """The code of a category given by its text (``"Private"``, ``"5"``), whatever the
        wire format."""
        if category in self._codes:
            return self._codes[category]
        raise UnknownCategoryError(self.name, category, self.categories)

    @property
    def wire_values(self) -> list[WireValue]:
        """The values the model takes for this categorical feature, in code order."""
        return [self.decode(code) for code in range(len(self.categories))]

    def _code_of(self, value: Any) -> int:
        """A category's name always counts; a number (or numeric text) counts as the wire
        format reads it: an index for ``code``, the category it equals otherwise."""
        if isinstance(value, str) and value in self._codes:
            return self._codes[value]
        number = as_number(value)
        if number is not None:
            if self.wire is WireFormat.code:
                if number.is_integer() and 0 <= number < len(self.categories):
                    return int(number)
            elif number in self._numbers:
                return self._numbers[number]
        raise UnknownCategoryError(self.name, value, self.wire_values)


class FeatureSchema(BaseModel):
    """Features in the order the model expects them, and the groups of features that only
    change together (``links``: e.g. education and education-num, which encode one fact)."""

    features: list[Feature]
    links: list[list[str]] = Field(
        default_factory=list,
        description="groups of features that change together; each group's combinations "
        "are those of the reference data",
    )

    @model_validator(mode="after")
    def _unique(self) -> FeatureSchema:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("a schema needs at least one feature")
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        linked: set[str] = set()
        for group in self.links:
            unknown = [n for n in group if n not in names]
            if unknown:
                raise ValueError(f"links: unknown feature(s) {', '.join(unknown)}")
            if len(set(group)) < 2:
                raise ValueError(f"links: a group needs two or more features, got {group}")
            if linked & set(group):
                raise ValueError(f"links: {sorted(linked & set(group))} in two groups")
            linked |= set(group)
        return self

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def categorical_names(self) -> dict[int, list[str]]:
        """Column index -> categories, the form alibi and dice-ml take."""
        return {i: f.categories for i, f in enumerate(self.features) if f.is_categorical}

    @property
    def immutable(self) -> list[str]:
        return [f.name for f in self.features if f.immutable]

    @property
    def text_feature(self) -> Feature | None:
        """The text feature of a text model (``explainers.text``); None for a table."""
        return next((f for f in self.features if f.is_text), None)

    # --- construction -------------------------------------------------------------------

    @classmethod
    def infer(
        cls,
        data: pd.DataFrame,
        *,
        target: str | None = None,
        categorical: Iterable[str] | None = None,
        immutable: Iterable[str] = (),
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        labels: Mapping[str, str] | None = None,
        links: Sequence[Sequence[str]] = (),
        missing: Iterable[str] = (),
        text: Iterable[str] = (),
    ) -> FeatureSchema:
        """Infer a schema from reference data.

        A column is categorical when its override says so (``kind``, or ``categories``
        given), else when listed in ``categorical`` or, if that is None, when its dtype is
        not numeric. Categories are sorted (numerically for a numeric column), so the same
        data always gives the same codes. A numeric column that is categorical travels as
        the categories' own numbers (``wire: value``), or as their index (``wire: code``)
        when the override names categories that are not numbers. ``overrides`` maps a
        feature name to fields that replace the inferred ones; ``labels`` a feature name to
        its display name; ``links`` groups of features that change together; ``missing``
        categories that mean "unknown", marked on every categorical feature that has them;
        ``text`` the columns that hold free text (kind ``text``).
        """
        columns = [c for c in data.columns if c != target]
        chosen = set(categorical) if categorical is not None else None
        immutable_set = set(immutable)
        missing_set = [str(m) for m in missing]
        text_set = set(text)
        overrides = dict(overrides or {})
        labels = dict(labels or {})
        unknown = (
            immutable_set | text_set | set(overrides) | set(labels) | (chosen or set())
        ) - set(columns)
        if unknown:
            raise SchemaError(
                f"unknown feature(s) in configuration: {', '.join(sorted(unknown))}",
                feature=sorted(unknown)[0],
            )
        features = []
        for name in columns:
            column = data[name]
            override = dict(overrides.get(name, {}))
            numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(
                column
            )
            if name in text_set:
                text_fields = {"name": name, "kind": FeatureKind.text, "label": labels.get(name)}
                features.append(Feature(**{**text_fields, **override}))
                continue
            if "kind" in override:
                is_cat = override["kind"] == FeatureKind.categorical
            elif "categories" in override:
                is_cat = True
            else:
                is_cat = name in chosen if chosen is not None else not numeric
            fields: dict[str, Any] = {
                "name": name,
                "immutable": name in immutable_set,
                "label": labels.get(name),
            }
            if is_cat:
                fields["kind"] = FeatureKind.categorical
                if numeric:
                    fields["categories"] = [number_text(v) for v in sorted(set(column.dropna()))]
                    named = [as_number(c) for c in override.get("categories", [])]
                    fields["wire"] = WireFormat.code if None in named else WireFormat.value
                else:
                    fields["categories"] = sorted({str(v) for v in column.dropna()})
            else:
                values = pd.to_numeric(column, errors="raise").dropna()
                fields["kind"] = FeatureKind.numeric
                fields["integer"] = bool(
                    pd.api.types.is_integer_dtype(column) or (values % 1 == 0).all()
                )
                fields["min"] = float(values.min()) if len(values) else None
                fields["max"] = float(values.max()) if len(values) else None
            fields.update(override)
            if fields["kind"] == FeatureKind.categorical and "missing" not in override:
                fields["missing"] = [m for m in missing_set if m in fields["categories"]]
            features.append(Feature(**fields))
        return cls(features=features, links=[list(group) for group in links])

    # --- conversions --------------------------------------------------------------------

    def row_from_record(self, record: Mapping[str, Any]) -> list[Any]:
        """A mapping feature -> value as a row in schema order; names must match exactly."""
        return records_to_rows([record], self.names)[0]

    def to_numeric(self, rows: Sequence[Sequence[Any]] | pd.DataFrame) -> np.ndarray:
        """Wire rows (n, d) -> float matrix (n, d) in the explainer space."""
        if isinstance(rows, pd.DataFrame):
            rows = rows[self.names].values.tolist()
        # reference data repeats its values: each column encodes a distinct value once
        codes: list[dict[tuple[type, Any], float]] = [{} for _ in self.features]
        encoded = []
        for row in rows:
            row = list(row)
            if len(row) != len(self.features):
                raise SchemaError(
                    f"a row has {len(row)} values; the schema has {len(self.features)} features"
                )
            encoded.append(
                [_encoded(f, seen, v) for f, seen, v in zip(self.features, codes, row, strict=True)]
            )
        return np.asarray(encoded, dtype=float).reshape(len(encoded), len(self.features))

    def normalise(self, rows: Sequence[Sequence[Any]]) -> list[list[WireValue]]:
        """Wire rows in their canonical form (``39.0`` -> ``39`` for an integer feature, ...),
        so that equal rows compare equal. A text is checked against its limits and kept as
        it is."""
        text = self.text_feature
        if text is None:
            return self.to_wire(self.to_numeric(rows))
        if len(self.features) != 1:
            raise SchemaError("a text model takes its text as its only feature")
        out: list[list[WireValue]] = []
        for row in rows:
            if len(row) != 1:
                raise SchemaError(f"a row has {len(row)} values; the schema has 1 feature")
            out.append([text.check_text(row[0])])
        return out

    def to_wire(self, matrix: np.ndarray) -> list[list[WireValue]]:
        """Float matrix (n, d) in the explainer space -> wire rows, schema order."""
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        if matrix.shape[1] != len(self.features):
            raise SchemaError(
                f"matrix has {matrix.shape[1]} columns; the schema has {len(self.features)}"
            )
        if self.text_feature is None and _column_safe(matrix):
            columns = [f.decode_column(matrix[:, j]) for j, f in enumerate(self.features)]
            return list(map(list, zip(*columns, strict=True)))
        return [[f.decode(x) for f, x in zip(self.features, row, strict=True)] for row in matrix]


def _column_safe(matrix: np.ndarray) -> bool:
    """Whether ``Feature.decode_column`` gives what ``decode`` gives for every value: some
    features and rows, finite values small enough to round to an ``int64`` exactly."""
    return (
        matrix.size > 0
        and bool(np.isfinite(matrix).all())
        and float(np.abs(matrix).max()) < _EXACT_INTEGERS
    )


def _plain(number: float) -> int | float:
    """``5.0`` -> ``5``; other numbers unchanged."""
    return int(number) if number.is_integer() else number


def records_to_rows(records: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """Mappings feature -> value to rows in ``names`` order; missing or extra keys raise."""
    expected = set(names)
    rows = []
    for record in records:
        if not isinstance(record, Mapping):
            raise SchemaError(
                f"expected an object of feature -> value, got {type(record).__name__}"
            )
        missing = [n for n in names if n not in record]
        if missing:
            raise MissingFeatureError(missing)
        extra = [k for k in record if k not in expected]
        if extra:
            raise UnexpectedFeatureError(extra, names)
        rows.append([record[n] for n in names])
    return rows


def _encoded(feature: Feature, seen: dict[tuple[type, Any], float], value: Any) -> float:
    """``feature.encode(value)``, remembered in ``seen`` by type and value (``1`` and
    ``True`` are equal keys otherwise)."""
    try:
        key = (type(value), value)
        return seen[key]
    except KeyError:
        seen[key] = number = feature.encode(value)
        return number
    except TypeError:  # unhashable: encode refuses it
        return feature.encode(value)
