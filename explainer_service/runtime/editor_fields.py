"""The what-if editor of a tabular page: one field per feature, in the page's words.

Categories are selects of the feature's categories (each shown by its label), numbers are
inputs within the reference data's range, immutable features are marked (they can still be
edited: the editor asks the model, it does not propose changes). ``check_values`` holds the
service to the same bounds the inputs show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from explainer_service.presentation.formats import value as value_text
from explainer_service.presentation.vocabulary import Vocabulary
from explainers.errors import InvalidValueError
from explainers.schema import FeatureSchema

__all__ = ["Field", "Range", "check_values", "editor_fields", "ranges_of"]


@dataclass(frozen=True)
class Range:
    """The lowest and highest value a numeric feature takes in the reference data."""

    low: float
    high: float


@dataclass(frozen=True)
class Field:
    """One input of the editor. ``options``: (wire value as text, label) of a category;
    ``value``: the instance's value as the input holds it (text)."""

    name: str
    label: str
    kind: str  # "category" or "number"
    value: str
    immutable: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    low: str | None = None
    high: str | None = None
    step: str = "any"
    numeric: bool = False  # a category whose wire values are numbers (codes)


def ranges_of(schema: FeatureSchema, reference: pd.DataFrame) -> dict[str, Range]:
    """The reference data's range of each numeric feature (the editor's bounds)."""
    ranges = {}
    for feature in schema.features:
        if feature.is_categorical or feature.is_text or feature.name not in reference:
            continue
        column = pd.to_numeric(reference[feature.name], errors="coerce").dropna()
        if len(column):
            ranges[feature.name] = Range(float(column.min()), float(column.max()))
    return ranges


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def editor_fields(
    schema: FeatureSchema,
    instance: Mapping[str, Any],
    ranges: Mapping[str, Range],
    words: Vocabulary,
) -> list[Field]:
    """The editor's fields for ``instance`` (feature -> wire value); empty for a text model."""
    if schema.text_feature is not None:
        return []
    fields = []
    for feature in schema.features:
        current = instance.get(feature.name)
        label, immutable = words.feature(feature.name), feature.immutable
        if feature.is_categorical:
            options = [(_text(v), words.category(feature.name, v)) for v in feature.wire_values]
            numeric = any(isinstance(v, int | float) for v in feature.wire_values)
            fields.append(
                Field(
                    feature.name,
                    label,
                    "category",
                    _text(current),
                    immutable,
                    options,
                    numeric=numeric,
                )
            )
            continue
        bounds = ranges.get(feature.name)
        fields.append(
            Field(
                feature.name,
                label,
                "number",
                _text(current),
                immutable,
                low=None if bounds is None else _text(bounds.low),
                high=None if bounds is None else _text(bounds.high),
                step="1" if feature.integer else "any",
            )
        )
    return fields


def check_values(values: Mapping[str, Any], ranges: Mapping[str, Range]) -> None:
    """Raises ``InvalidValueError`` (422, naming the feature) for a number outside its
    feature's range; the other checks, names and types, are the schema's."""
    for name, bounds in ranges.items():
        given = values.get(name)
        if isinstance(given, bool) or not isinstance(given, int | float):
            continue
        if math.isfinite(given) and not bounds.low <= given <= bounds.high:
            raise InvalidValueError(
                name,
                given,
                f"the editor takes {value_text(bounds.low)} to {value_text(bounds.high)}, "
                "the reference data's range",
            )
