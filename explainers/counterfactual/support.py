"""How far a row lies from the reference data: the plausibility of a counterfactual.

One distance serves proximity (counterfactual to instance) and plausibility (counterfactual
to the nearest reference row): a numeric difference in units of the reference data's range
of that feature (raw units when the range is empty), 1 for a category that differs, averaged
over all features. It is the L1 distance between rows embedded as ``number / range / d``
and ``one-hot / 2 / d`` (two one-hot entries differ for a changed category), so scikit-learn's
nearest-neighbour search computes it.

A counterfactual is plausible when it is no farther from the reference data than most
reference rows are from each other: its distance to the nearest reference row is at most
the ``quantile`` of the reference rows' distances to their nearest other row. Those are
computed once, when fitting, on up to ``SAMPLE`` reference rows (a fixed seed).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from explainers.schema import FeatureSchema

#: Reference rows whose nearest-neighbour distances set the plausibility threshold.
SAMPLE = 2000


class Support:
    """The reference rows (explainer space) of ``schema``, indexed for nearest distances."""

    def __init__(self, schema: FeatureSchema, reference: np.ndarray) -> None:
        self.schema = schema
        span = reference.max(axis=0) - reference.min(axis=0)  # reference is never empty
        self.scale = np.where(span > 0, span, 1.0)
        embedded = self.embed(reference)
        self._index = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(embedded)
        if len(reference) < 2:
            self.reference_distances = np.array([np.inf])  # nothing to compare with
            return
        rng = np.random.default_rng(0)
        sample = rng.choice(len(reference), min(SAMPLE, len(reference)), replace=False)
        # the nearest is the row itself (or a copy of it, also at 0): take the second
        distances, _ = self._index.kneighbors(embedded[np.sort(sample)], n_neighbors=2)
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
        distances, _ = self._index.kneighbors(self.embed(matrix))
        return np.asarray(distances[:, 0], dtype=float)

    def threshold(self, quantile: float) -> float:
        """The nearest distance at most ``quantile`` of the sampled reference rows have."""
        return float(np.quantile(self.reference_distances, quantile))
