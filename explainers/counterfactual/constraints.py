"""What a counterfactual may change, and how: the schema's constraints, checked and enforced.

Rows here are in the explainer space (a categorical feature holds its code). The
constraints, all from ``FeatureSchema``:

- an immutable feature never changes;
- a numeric feature that changes lands within ``[min, max]`` and moves only the way its
  ``direction`` allows (a value left as the instance has it is always allowed, even out of
  the range);
- a categorical feature never changes to one of its ``missing`` categories ("unknown");
- the features of a ``links`` group change together: once any of them changes, the group's
  values are a combination seen in the reference data.

The search proposes only values that respect them (``permitted``, ``categories``,
``combinations``); every answer is checked again (``violations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from explainers.errors import ParameterError
from explainers.schema import Direction, Feature, FeatureSchema


@dataclass(frozen=True)
class _Link:
    """A group of linked features: their column indices and the combinations the reference
    data holds (distinct rows of those columns, most frequent first)."""

    names: tuple[str, ...]
    columns: tuple[int, ...]
    combinations: np.ndarray  # (k, len(columns)), explainer space
    counts: np.ndarray  # (k,) reference rows with each combination


class Constraints:
    """The constraints of ``schema``, with the linked groups' combinations from ``reference``
    (rows in the explainer space)."""

    def __init__(self, schema: FeatureSchema, reference: np.ndarray) -> None:
        self.schema = schema
        self.links = [_link(schema, reference, group) for group in schema.links]
        self.units = units(schema)

    @staticmethod
    def permitted(feature: Feature, value: float) -> tuple[float, float] | None:
        """The range a numeric feature may move to from the instance's ``value``: its
        ``[min, max]`` narrowed by its direction; None when it cannot move at all."""
        low = -np.inf if feature.min is None else feature.min
        high = np.inf if feature.max is None else feature.max
        if feature.direction is Direction.increase:
            low = max(low, value)
        elif feature.direction is Direction.decrease:
            high = min(high, value)
        if low > high or low == high == value:
            return None
        return low, high

    # --- checks -------------------------------------------------------------------------

    def violations(self, x: np.ndarray, row: np.ndarray) -> list[str]:
        """What ``row`` (a counterfactual of the instance ``x``) breaks, in words; empty when
        it respects every constraint."""
        found = []
        for j, feature in enumerate(self.schema.features):
            if row[j] != x[j]:
                found.extend(self._feature_violations(feature, x[j], row[j]))
        for link in self.links:
            if not self._combination_allowed(link, x, row[list(link.columns)]):
                values = ", ".join(
                    f"{name} = {self._shown(j, row[j])}"
                    for name, j in zip(link.names, link.columns, strict=True)
                )
                found.append(f"{values}: a combination the reference data does not hold")
        return found

    def _feature_violations(self, feature: Feature, old: float, new: float) -> list[str]:
        if feature.immutable:
            return [f"{feature.name} is immutable"]
        if feature.is_categorical:
            category = feature.categories[round(new)]
            return (
                [f"{feature.name} {category!r} means unknown"]
                if category in feature.missing
                else []
            )
        found = []
        if feature.direction is Direction.increase and new < old:
            found.append(f"{feature.name} may only increase ({old:g} -> {new:g})")
        if feature.direction is Direction.decrease and new > old:
            found.append(f"{feature.name} may only decrease ({old:g} -> {new:g})")
        if feature.min is not None and new < feature.min:
            found.append(f"{feature.name} {new:g} is below its minimum {feature.min:g}")
        if feature.max is not None and new > feature.max:
            found.append(f"{feature.name} {new:g} is above its maximum {feature.max:g}")
        return found

    def _combination_allowed(self, link: _Link, x: np.ndarray, values: np.ndarray) -> bool:
        """A linked group left as the instance has it, or moved to a seen combination."""
        if np.array_equal(values, x[list(link.columns)]):
            return True
        return bool((link.combinations == values).all(axis=1).any())

    def _shown(self, column: int, value: float) -> str:
        feature = self.schema.features[column]
        return feature.categories[round(value)] if feature.is_categorical else f"{value:g}"

    # --- what the search may propose -------------------------------------------------

    def categories(self, column: int, x: np.ndarray) -> list[int]:
        """The codes a categorical feature may change to from the instance ``x``: every
        category but the instance's and the ``missing`` ones."""
        feature = self.schema.features[column]
        missing = {feature.code_of_category(m) for m in feature.missing}
        return [c for c in range(len(feature.categories)) if c != x[column] and c not in missing]

    def combinations(self, link: _Link, x: np.ndarray) -> np.ndarray:
        """(k, len(columns)) the combinations a linked group may move to from ``x``, most
        frequent first."""
        return np.asarray(link.combinations[self._allowed_combinations(link, x)])

    def _allowed_combinations(self, link: _Link, x: np.ndarray) -> np.ndarray:
        """(k,) the combinations other than the instance's that respect each member's own
        constraints from the instance."""
        allowed: np.ndarray = ~(link.combinations == x[list(link.columns)]).all(axis=1)
        for i, j in enumerate(link.columns):
            feature = self.schema.features[j]
            for k, value in enumerate(link.combinations[:, i]):
                if allowed[k] and value != x[j]:
                    allowed[k] = not self._feature_violations(feature, x[j], value)
        return allowed


def units(schema: FeatureSchema) -> list[tuple[int, ...]]:
    """What changes (and is reverted) as one, as column indices: each linked group, and
    each other feature alone."""
    linked = {name for group in schema.links for name in group}
    return [tuple(schema.names.index(n) for n in group) for group in schema.links] + [
        (j,) for j, f in enumerate(schema.features) if f.name not in linked
    ]


def varied_features(
    schema: FeatureSchema, requested: Sequence[str] | None, method: str
) -> list[str]:
    """The features counterfactuals may change, in schema order: ``requested`` (every
    mutable feature when None), widened to whole linked groups (their mutable members).

    Raises ``ParameterError`` (field ``features_to_vary``) naming an unknown or an
    immutable feature."""
    names = schema.names
    mutable = [f.name for f in schema.features if not f.immutable]
    if requested is None:
        chosen = set(mutable)
    else:
        unknown = [n for n in requested if n not in names]
        if unknown:
            raise ParameterError(
                method,
                "features_to_vary",
                f"unknown feature(s) {', '.join(map(repr, unknown))}; features: {', '.join(names)}",
            )
        fixed = [n for n in requested if schema[n].immutable]
        if fixed:
            raise ParameterError(
                method,
                "features_to_vary",
                f"{', '.join(map(repr, fixed))}: immutable in the configuration, never "
                f"changed by counterfactuals; mutable features: {', '.join(mutable)}",
            )
        chosen = set(requested)
    for group in schema.links:
        if chosen & set(group):
            chosen |= {n for n in group if not schema[n].immutable}
    return [n for n in names if n in chosen]


def _link(schema: FeatureSchema, reference: np.ndarray, group: Sequence[str]) -> _Link:
    columns = tuple(schema.names.index(name) for name in group)
    combinations, counts = np.unique(reference[:, list(columns)], axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return _Link(tuple(group), columns, combinations[order], counts[order])
