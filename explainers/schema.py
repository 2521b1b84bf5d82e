"""The feature schema: what each feature is and how it moves between two spaces.

*Wire values* are what the model receives: strings (or integer codes) for categorical
features, numbers for numeric ones. The *explainer space* is a float matrix in which a
categorical feature holds its ordinal code (the index of the category in
``Feature.categories``). Rows are always in schema order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from explainers.errors import (
    InvalidValueError,
    MissingFeatureError,
    SchemaError,
    UnexpectedFeatureError,
    UnknownCategoryError,
)

WireValue = str | int | float


class FeatureKind(StrEnum):
    numeric = "numeric"
    categorical = "categorical"


class WireFormat(StrEnum):
    """How a categorical feature travels to the model."""

    string = "string"  # the category itself, e.g. "Private"
    code = "code"  # its index in ``categories``


class Feature(BaseModel):
    name: str
    kind: FeatureKind
    categories: list[str] = Field(default_factory=list, description="categorical: code i <-> [i]")
    wire: WireFormat = WireFormat.string
    integer: bool = Field(False, description="numeric: the model receives whole numbers")
    immutable: bool = Field(False, description="counterfactuals must not change it")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.kind is FeatureKind.categorical:
            if not self.categories:
                raise ValueError(f"categorical feature {self.name!r} needs categories")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"categorical feature {self.name!r} repeats a category")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} > max {self.max}")
        return self

    @property
    def is_categorical(self) -> bool:
        return self.kind is FeatureKind.categorical

    def encode(self, value: Any) -> float:
        """Wire value -> explainer space (ordinal code or float)."""
        if self.is_categorical:
            return float(self._code_of(value))
        if isinstance(value, bool) or not isinstance(value, int | float | np.number | str):
            raise InvalidValueError(self.name, value, "expected a number")
        try:
            number = float(value)
        except ValueError:
            raise InvalidValueError(self.name, value, "expected a number") from None
        if not math.isfinite(number):
            raise InvalidValueError(self.name, value, "expected a finite number")
        return number

    def decode(self, number: float) -> WireValue:
        """Explainer space -> wire value. Codes are rounded and clipped to a valid category."""
        if self.is_categorical:
            code = min(max(round(float(number)), 0), len(self.categories) - 1)
            return code if self.wire is WireFormat.code else self.categories[code]
        if self.integer:
            return round(float(number))
        return float(number)

    def _code_of(self, value: Any) -> int:
        if isinstance(value, str):
            try:
                return self.categories.index(value)
            except ValueError:
                raise UnknownCategoryError(self.name, value, self.categories) from None
        is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
        if self.wire is WireFormat.code and is_int and 0 <= value < len(self.categories):
            return int(value)
        raise UnknownCategoryError(self.name, value, self.categories)


class FeatureSchema(BaseModel):
    """Features in the order the model expects them."""

    features: list[Feature]

    @model_validator(mode="after")
    def _unique(self) -> FeatureSchema:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("a schema needs at least one feature")
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
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
    ) -> FeatureSchema:
        """Infer a schema from reference data.

        A column is categorical when listed in ``categorical`` or, if that is None, when its
        dtype is not numeric. Categories are sorted, so the same data always gives the same
        codes. ``overrides`` maps a feature name to fields that replace the inferred ones.
        """
        columns = [c for c in data.columns if c != target]
        chosen = set(categorical) if categorical is not None else None
        immutable_set = set(immutable)
        overrides = dict(overrides or {})
        unknown = (immutable_set | set(overrides) | (chosen or set())) - set(columns)
        if unknown:
            raise SchemaError(
                f"unknown feature(s) in configuration: {', '.join(sorted(unknown))}",
                feature=sorted(unknown)[0],
            )
        features = []
        for name in columns:
            column = data[name]
            is_cat = (
                name in chosen if chosen is not None else not pd.api.types.is_numeric_dtype(column)
            )
            fields: dict[str, Any] = {"name": name, "immutable": name in immutable_set}
            if is_cat:
                fields["kind"] = FeatureKind.categorical
                fields["categories"] = sorted({str(v) for v in column.dropna()})
            else:
                values = pd.to_numeric(column, errors="raise").dropna()
                fields["kind"] = FeatureKind.numeric
                fields["integer"] = bool(
                    pd.api.types.is_integer_dtype(column) or (values % 1 == 0).all()
                )
                fields["min"] = float(values.min()) if len(values) else None
                fields["max"] = float(values.max()) if len(values) else None
            fields.update(overrides.get(name, {}))
            features.append(Feature(**fields))
        return cls(features=features)

    # --- conversions --------------------------------------------------------------------

    def row_from_record(self, record: Mapping[str, Any]) -> list[Any]:
        """A mapping feature -> value as a row in schema order; names must match exactly."""
        return records_to_rows([record], self.names)[0]

    def to_numeric(self, rows: Sequence[Sequence[Any]] | pd.DataFrame) -> np.ndarray:
        """Wire rows (n, d) -> float matrix (n, d) in the explainer space."""
        if isinstance(rows, pd.DataFrame):
            rows = rows[self.names].values.tolist()
        encoded = []
        for row in rows:
            row = list(row)
            if len(row) != len(self.features):
                raise SchemaError(
                    f"a row has {len(row)} values; the schema has {len(self.features)} features"
                )
            encoded.append([f.encode(v) for f, v in zip(self.features, row, strict=True)])
        return np.asarray(encoded, dtype=float).reshape(len(encoded), len(self.features))

    def normalise(self, rows: Sequence[Sequence[Any]]) -> list[list[WireValue]]:
        """Wire rows in their canonical form (``39.0`` -> ``39`` for an integer feature, ...),
        so that equal rows compare equal."""
        return self.to_wire(self.to_numeric(rows))

    def to_wire(self, matrix: np.ndarray) -> list[list[WireValue]]:
        """Float matrix (n, d) in the explainer space -> wire rows, schema order."""
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        if matrix.shape[1] != len(self.features):
            raise SchemaError(
                f"matrix has {matrix.shape[1]} columns; the schema has {len(self.features)}"
            )
        return [[f.decode(x) for f, x in zip(self.features, row, strict=True)] for row in matrix]


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
