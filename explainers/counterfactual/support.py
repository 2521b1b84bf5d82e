"""How far a row lies from the reference data: the plausibility of a counterfactual.

One distance serves proximity (counterfactual to instance) and plausibility (counterfactual
to the nearest reference row): a numeric difference in units of the reference data's range
of that feature (raw units when the range is empty), 1 for a category that differs, averaged
over all features. It is the L1 distance between rows embedded as ``number / range / d``
and ``one-hot / 2 / d`` (two one-hot entries differ for a changed category), so scipy's
k-d tree (``p=1``) finds the nearest rows.

A counterfactual is plausible when it is no farther from the reference data than most
reference rows are from each other: its distance to the nearest reference row is at most
the ``quantile`` of the reference rows' distances to their nearest other row. Those are
computed once, when fitting, on up to ``SAMPLE`` reference rows (a fixed seed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from explainers.schema import FeatureSchema

#: Reference rows whose nearest-neighbour distances set the plausibility threshold.
SAMPLE = 2000


class Support:
    """The reference rows (explainer space) of ``schema``, indexed for nearest distances."""

    def __init__(self, schema: FeatureSchema, reference: np.ndarray) -> None:
        self.schema = schema
        self._reference = np.unique(np.asarray(reference, dtype=float), axis=0)
        span = reference.max(axis=0) - reference.min(axis=0)  # reference is never empty
        self.scale = np.where(span > 0, span, 1.0)
        embedded = self.embed(reference)
        self._index = cKDTree(embedded)
        if len(reference) < 2:
            self.reference_distances = np.array([np.inf])  # nothing to compare with
            return
        rng = np.random.default_rng(0)
        sample = rng.choice(len(reference), min(SAMPLE, len(reference)), replace=False)
        # the nearest is the row itself (or a copy of it, also at 0): take the second
        distances, _ = self._index.query(embedded[np.sort(sample)], k=2, p=1)
        self.reference_distances = np.sort(distances[:, 1])

    def embed(self, matrix: np.ndarray) -> np.ndarray:
        """Rows (n, d) as points whose L1 distances are the distances described above."""
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        parts = []
        for j, feature in enumerate(self.schema.features):
            if feature.is_categorical:
                codes = np.clip(np.round(matrix[:, j]).astype(int), 0, len(feature.categories) - 1)
                parts.append(np.eye(len(feature.categories))[codes] / 2)
            else:
                parts.append((matrix[:, j] / self.scale[j])[:, None])
        return np.hstack(parts) / len(self.schema)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """The distance between two rows."""
        return float(np.abs(self.embed(a) - self.embed(b)).sum())

    def nearest(self, matrix: np.ndarray) -> np.ndarray:
        """(n,) each row's distance to the nearest reference row."""
        distances, _ = self._index.query(self.embed(matrix), k=1, p=1)
        return np.asarray(distances, dtype=float).reshape(-1)

    def near(self, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``nearest`` for rows that differ from the instance ``x`` in a few columns: each
        reference row's distance to ``x`` is computed once, and a row's distance to it is
        that, corrected on the columns the row changes."""
        reference = self._reference
        d = len(self.schema)
        categorical = np.array([f.is_categorical for f in self.schema.features])

        def columns(j: int, values: np.ndarray) -> np.ndarray:
            """(m, n) the distance in column ``j`` of m values to every reference row."""
            if categorical[j]:
                return np.asarray(reference[None, :, j] != values[:, None], dtype=float) / d
            return np.asarray(np.abs(reference[None, :, j] - values[:, None]) / self.scale[j] / d)

        base = np.hstack([columns(j, x[j : j + 1]).T for j in range(d)])  # (n, d)
        total = base.sum(axis=1)

        def nearest(rows: np.ndarray) -> np.ndarray:
            rows = np.atleast_2d(rows)
            out = np.empty(len(rows))
            changed = rows != x
            for pattern in np.unique(changed, axis=0):
                which = (changed == pattern).all(axis=1)
                cols = np.flatnonzero(pattern)
                distances = np.broadcast_to(
                    total - base[:, cols].sum(axis=1), (which.sum(), len(total))
                ).copy()
                for j in cols.tolist():
                    distances += columns(j, rows[which, j])
                out[which] = distances.min(axis=1)
            return out

        return nearest

    def threshold(self, quantile: float) -> float:
        """The nearest distance at most ``quantile`` of the sampled reference rows have."""
        return float(np.quantile(self.reference_distances, quantile))
