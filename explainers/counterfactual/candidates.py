"""The values the search tries for each unit (a feature, or a linked group), and the values
between the instance and a found one that the refinement bisects.

Every value respects the constraints from the instance (``Constraints``): a numeric feature
takes distinct values the reference data holds within its permitted range, split between the
two sides of the instance's value (one side for a one-way feature), spread by rank from the
nearest to the farthest; a categorical feature its other categories but the ``missing``
ones, most frequent first; a linked group the combinations it may move to, most frequent
first. At most ``limit`` values per unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainers.counterfactual.constraints import Constraints
from explainers.schema import FeatureSchema

#: Values at most between the instance's and a found one that the refinement considers
#: (more are thinned evenly, keeping the found one).
MAX_LATTICE = 2**17


@dataclass(frozen=True)
class Unit:
    """What changes as one: ``columns`` (one feature, or a linked group), the values tried
    (``options``, (k, len(columns))) and, for a numeric feature, each value's side of the
    instance's (``sides``: +1 above, -1 below; 0 for the others)."""

    columns: tuple[int, ...]
    options: np.ndarray
    sides: np.ndarray

    @property
    def numeric(self) -> bool:
        return bool(self.sides.any())

    def subset(self, limit: int, rank: np.ndarray) -> np.ndarray:
        """Indices of at most ``limit`` options for a search of several units: for a numeric
        feature, spread by rank on each side (the farthest kept); else the ``limit`` with the
        highest ``rank`` (their progress alone)."""
        if self.numeric:
            above, below = np.flatnonzero(self.sides == 1), np.flatnonzero(self.sides == -1)
            k_above, k_below = _split(limit, len(above), len(below))
            return np.concatenate(
                [above[_spread(len(above), k_above)], below[_spread(len(below), k_below)]]
            )
        order = np.argsort(-rank, kind="stable")
        return np.sort(order[:limit])


def _split(limit: int, above: int, below: int) -> tuple[int, int]:
    """How many of ``limit`` values go to each side, half each where both have enough."""
    k_above = min(above, max(math.ceil(limit / 2), limit - below))
    return k_above, min(below, limit - k_above)


def _spread(n: int, k: int) -> np.ndarray:
    """At most ``k`` indices of ``0..n-1``, evenly spread by rank, the first and last kept."""
    if n <= k:
        return np.arange(n)
    if k <= 1:
        return np.arange(n - k, n)  # the farthest: the likeliest to reach
    return np.asarray(np.unique(np.round(np.linspace(0, n - 1, k)).astype(int)))


class Candidates:
    """The units of ``schema`` with the values they may take, from the reference rows
    (explainer space) and the constraints."""

    def __init__(
        self, schema: FeatureSchema, reference: np.ndarray, constraints: Constraints
    ) -> None:
        self.schema = schema
        self.constraints = constraints
        self.distinct = [np.unique(reference[:, j]) for j in range(len(schema))]
        self.frequency = [
            np.bincount(reference[:, j].astype(int), minlength=len(f.categories))
            if f.is_categorical
            else np.empty(0)
            for j, f in enumerate(schema.features)
        ]

    def units(self, x: np.ndarray, varied: set[int], limit: int) -> list[Unit]:
        """The units with a column in ``varied`` that can move from the instance ``x``."""
        found = []
        links = {link.columns: link for link in self.constraints.links}
        for columns in self.constraints.units:
            if not varied & set(columns):
                continue
            if columns in links:
                options = self.constraints.combinations(links[columns], x)[:limit]
                unit = Unit(columns, options, np.zeros(len(options), dtype=int))
            elif self.schema.features[columns[0]].is_categorical:
                unit = self._categorical(columns[0], x, limit)
            else:
                unit = self._numeric(columns[0], x, limit)
            if len(unit.options):
                found.append(unit)
        return found

    def _categorical(self, j: int, x: np.ndarray, limit: int) -> Unit:
        codes = self.constraints.categories(j, x)
        codes = sorted(codes, key=lambda c: -self.frequency[j][c])[:limit]
        return Unit((j,), np.array(codes, dtype=float).reshape(-1, 1), np.zeros(len(codes), int))

    def _numeric(self, j: int, x: np.ndarray, limit: int) -> Unit:
        permitted = Constraints.permitted(self.schema.features[j], float(x[j]))
        if permitted is None:
            return Unit((j,), np.empty((0, 1)), np.empty(0, int))
        low, high = permitted
        values = self.distinct[j]
        values = values[(values >= low) & (values <= high) & (values != x[j])]
        above, below = values[values > x[j]], values[values < x[j]][::-1]  # nearest first
        counts = _split(limit, len(above), len(below))
        chosen = [
            side[_spread(len(side), k)] for side, k in zip((above, below), counts, strict=True)
        ]
        sides = np.concatenate([np.ones(len(chosen[0]), int), -np.ones(len(chosen[1]), int)])
        return Unit((j,), np.concatenate(chosen).reshape(-1, 1), sides)

    def lattice(self, j: int, start: float, found: float) -> np.ndarray:
        """The values of column ``j`` past the instance's ``start`` up to ``found``, nearest to
        ``start`` first, ``found`` last: whole numbers for an integer feature, else the
        reference data's distinct values; within the permitted range; thinned evenly to
        ``MAX_LATTICE``."""
        feature = self.schema.features[j]
        permitted = Constraints.permitted(feature, start) or (found, found)
        low, high = permitted
        if feature.integer:
            step = 1.0 if found > start else -1.0
            span = abs(found - start)
            if span <= MAX_LATTICE:
                values = start + step * np.arange(1, span + 1)
            else:
                values = start + step * np.round(np.linspace(1, span, MAX_LATTICE))
        else:
            inner = self.distinct[j][
                (self.distinct[j] > min(start, found)) & (self.distinct[j] < max(start, found))
            ]
            values = np.append(np.sort(inner)[:: 1 if found > start else -1], found)
        values = values[(values >= low) & (values <= high)]
        if len(values) > MAX_LATTICE:
            values = values[_spread(len(values), MAX_LATTICE)]
        return values if len(values) and values[-1] == found else np.append(values, found)


def refine_steps(size: int, points: int) -> int:
    """Model calls at most for a search among ``size`` ordered values with ``points`` values
    tried per call, the last value known to reach and the instance's known not to."""
    steps, gap = 0, size
    while gap > 1:
        steps += 1
        if gap - 1 <= points:
            break
        gap = -(-gap // (points + 1))
    return steps
