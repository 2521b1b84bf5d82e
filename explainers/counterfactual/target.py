"""The outcome a counterfactual must reach, read from the model's raw scores.

``reaches`` says whether a row's scores give the outcome; ``progress`` how close they come,
so that the search can rank the single changes before it combines them: the desired
class's probability minus the largest other (positive once reached), 1 or 0 for a model that
answers labels, and minus the distance to ``desired_range`` for a regression (0 inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainers.model import CountingModel, OutputKind


@dataclass(frozen=True)
class Target:
    """The desired class index (``index``) of a classifier, or ``(low, high)`` of a
    regression (``interval``)."""

    index: int | None = None
    interval: tuple[float, float] | None = None

    def reaches(self, scores: np.ndarray, model: CountingModel) -> np.ndarray:
        """(n,) bool: each row of raw scores reaches the outcome."""
        if self.interval is not None:
            low, high = self.interval
            values = np.asarray(scores, dtype=float).reshape(-1)
            return np.asarray((values >= low) & (values <= high))
        return np.asarray(model.to_classes(scores) == self.index)

    def progress(self, scores: np.ndarray, model: CountingModel) -> np.ndarray:
        """(n,) how close each row comes to the outcome; larger is closer."""
        if self.interval is not None:
            low, high = self.interval
            values = np.asarray(scores, dtype=float).reshape(-1)
            return np.asarray(-np.maximum(np.maximum(low - values, values - high), 0.0))
        if model.box.output is OutputKind.labels:
            return self.reaches(scores, model).astype(float)
        proba = model.to_proba(scores)
        index = int(self.index or 0)
        others = np.delete(proba, index, axis=1)
        best_other = others.max(axis=1) if others.shape[1] else np.zeros(len(proba))
        return np.asarray(proba[:, index] - best_other)
