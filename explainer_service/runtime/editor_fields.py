"""The what-if editor of a tabular page: one field per feature, in the page's words.

Categories are selects of the feature's categories (each shown by its label), numbers are
inputs within their range: the one ``features.overrides`` sets (``min``, ``max``), else the
reference data's, bound by bound; immutable features are marked (they can still be
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


#: where a bound comes from, as the editor's refusal names it
REFERENCE = "the reference data's range"
CONFIGURED = "the range features.overrides sets"


@dataclass(frozen=True)
class Range:
    """The lowest and highest value the editor offers for a numeric feature; ``source``:
    where they come from (``REFERENCE``, or ``CONFIGURED`` when either bound is configured)."""

    low: float
    high: float
    source: str = REFERENCE


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


def ranges_of(
    schema: FeatureSchema,
    reference: pd.DataFrame,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Range]:
    """The editor's bounds of each numeric feature: ``overrides``' (``features.overrides``:
    feature -> ``{min, max}``, as the schema read them) where set, else the reference
    data's range. A feature with neither bound has none."""
    ranges = {}
    for feature in schema.features:
        if feature.is_categorical or feature.is_text:
            continue
        given = (overrides or {}).get(feature.name, {})
        low = feature.min if "min" in given else None
        high = feature.max if "max" in given else None
        source = REFERENCE if low is None and high is None else CONFIGURED
        if (low is None or high is None) and feature.name in reference:
            column = pd.to_numeric(reference[feature.name], errors="coerce").dropna()
            if len(column):
                low = float(column.min()) if low is None else low
                high = float(column.max()) if high is None else high
        if low is not None and high is not None:
            ranges[feature.name] = Range(low, max(low, high), source)
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
        bounds = _with(ranges.get(feature.name), current)
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _with(bounds: Range | None, value: Any) -> Range | None:
    """``bounds`` widened to hold ``value``, the instance's own: the editor always offers
    the values it was opened with."""
    number = _number(value)
    if bounds is None or number is None or not math.isfinite(number):
        return bounds
    return Range(min(bounds.low, number), max(bounds.high, number), bounds.source)


def check_values(
    values: Mapping[str, Any],
    ranges: Mapping[str, Range],
    kept: Mapping[str, Any] | None = None,
) -> None:
    """Raises ``InvalidValueError`` (422, naming the feature) for a number outside its
    feature's range; the other checks, names and types, are the schema's. ``kept``: the
    values of the instance the editor was opened on, accepted as they are (the editor's
    fields hold them, in range or not)."""
    for name, bounds in ranges.items():
        given = values.get(name)
        if isinstance(given, bool) or not isinstance(given, int | float):
            continue
        if kept is not None and _number(kept.get(name)) == float(given):
            continue
        if math.isfinite(given) and not bounds.low <= given <= bounds.high:
            raise InvalidValueError(
                name,
                given,
                f"the editor takes {value_text(bounds.low)} to {value_text(bounds.high)}, "
                f"{bounds.source}",
            )
