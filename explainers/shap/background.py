"""A representative sample of real reference rows: the population SHAP values are measured
against.

Every row of the sample is a real reference row, so categories stay categories and the rows
keep the data's joint structure (a husband is married and male). Among rows drawn at random,
the sample is chosen for its marginals: each feature is described by indicators, one per
category of a categorical feature, one per decile of a numeric one (``value <= decile``),
and the sample's share of each indicator is compared with the reference data's. The share
gap of a categorical indicator is a category's share; of a numeric one, the empirical
distribution function at a decile (a Kolmogorov-Smirnov distance on the deciles).

The search starts from seeded random draws, keeps the draw with the smallest sum of squared
gaps, then tries swaps, a few per row of the sample: one row out at random, the best of
(up to ``CANDIDATES``) rows in, kept when it lowers that sum. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DECILES = np.linspace(0.1, 0.9, 9)
#: Rows outside the sample that one swap compares (a random subset of a large reference).
CANDIDATES = 2048


@dataclass(frozen=True)
class Representative:
    """Sample ``rows`` (indices into the reference rows, sorted) and its largest share gap
    per feature (``gaps``: 0 = the sample's shares equal the reference data's)."""

    rows: np.ndarray
    gaps: dict[str, float]

    @property
    def max_gap(self) -> float:
        return max(self.gaps.values(), default=0.0)


def indicators(matrix: np.ndarray, categorical: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """The 0/1 indicators (n, k) of the rows and the feature (k,) each indicator describes."""
    columns, owners = [], []
    for j, is_categorical in enumerate(categorical):
        values = matrix[:, j]
        levels = np.unique(values) if is_categorical else np.unique(np.quantile(values, DECILES))
        found = values[:, None] == levels if is_categorical else values[:, None] <= levels
        columns.append(found)
        owners.extend([j] * len(levels))
    return np.hstack(columns).astype(float), np.array(owners, dtype=int)


def share_gaps(
    matrix: np.ndarray, categorical: Sequence[bool], names: Sequence[str], rows: np.ndarray
) -> dict[str, float]:
    """Feature -> the largest gap between the shares of its indicators in ``rows`` and in
    all of ``matrix``."""
    marks, owners = indicators(matrix, categorical)
    gaps = np.abs(marks[rows].mean(axis=0) - marks.mean(axis=0))
    return {name: float(gaps[owners == j].max()) for j, name in enumerate(names)}


def representative_rows(
    matrix: np.ndarray,
    categorical: Sequence[bool],
    names: Sequence[str],
    size: int,
    *,
    seed: int = 0,
    draws: int = 32,
    swaps_per_row: int = 4,
) -> Representative:
    """``size`` distinct rows of ``matrix`` (n, d) whose marginals are close to all rows'.

    ``categorical[j]``: column ``j`` holds category codes. All rows when ``size >= n``."""
    n = len(matrix)
    if size >= n:
        everything = np.arange(n)
        return Representative(everything, share_gaps(matrix, categorical, names, everything))
    marks, _ = indicators(matrix, categorical)
    target = marks.mean(axis=0) * size  # the counts a perfect sample would have
    rng = np.random.default_rng(seed)

    def loss(counts: np.ndarray) -> float:
        return float(((counts - target) ** 2).sum())

    chosen = min(
        (rng.choice(n, size, replace=False) for _ in range(draws)),
        key=lambda rows: loss(marks[rows].sum(axis=0)),
    )
    inside = np.zeros(n, dtype=bool)
    inside[chosen] = True
    counts = marks[chosen].sum(axis=0)
    for _ in range(swaps_per_row * size):
        out = rng.choice(np.flatnonzero(inside))
        candidates = np.flatnonzero(~inside)
        if len(candidates) > CANDIDATES:
            candidates = rng.choice(candidates, CANDIDATES, replace=False)
        trial = counts - marks[out] + marks[candidates]  # (candidates, k)
        losses = ((trial - target) ** 2).sum(axis=1)
        best = int(np.argmin(losses))
        if losses[best] < loss(counts) - 1e-9:
            inside[out], inside[candidates[best]] = False, True
            counts = trial[best]
    rows = np.flatnonzero(inside)
    return Representative(rows, share_gaps(matrix, categorical, names, rows))
