"""Checking a decoded model answer against what the configuration promises."""

from __future__ import annotations

import numpy as np

from explainer_service.errors import CodecError
from explainers.model import OutputKind


def interpret(
    array: np.ndarray, output: OutputKind, n_rows: int, n_classes: int | None = None
) -> np.ndarray:
    """The model's answer as scores, one entry per row.

    Returns
    -------
    probabilities: float array (n_rows, n_classes); a single column of positive-class
        probabilities is widened to two columns ``[1 - p, p]``.
    labels: array (n_rows,) of labels as the model sent them.
    regression: float array (n_rows,).

    Raises CodecError when the shape, the row count or the types do not fit.
    """
    if n_rows == 0 and array.size == 0:  # an empty answer carries no shape to check
        if output is OutputKind.probabilities:
            return np.empty((0, n_classes or 2))
        return np.empty((0,), dtype=object if output is OutputKind.labels else float)
    if array.ndim == 2 and array.shape[1] == 1 and output is not OutputKind.probabilities:
        array = array[:, 0]
    if array.shape[:1] != (n_rows,):
        raise CodecError(
            f"the model answered {array.shape[0] if array.ndim else 0} rows for {n_rows}"
        )
    if output is OutputKind.labels:
        if array.ndim != 1:
            raise CodecError(f"expected one label per row, got shape {list(array.shape)}")
        return array
    if not np.issubdtype(array.dtype, np.number) and n_rows:
        raise CodecError(f"expected numbers, got {array.dtype.kind!r} values")
    scores = array.astype(float)
    if not np.isfinite(scores).all():
        raise CodecError("the model answered NaN or infinite scores")
    if output is OutputKind.regression:
        if scores.ndim != 1:
            raise CodecError(f"expected one value per row, got shape {list(scores.shape)}")
        return scores
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        positive = scores.reshape(-1)
        scores = np.column_stack([1.0 - positive, positive])
    if scores.ndim != 2:
        raise CodecError(f"expected (rows, classes) probabilities, got shape {list(scores.shape)}")
    if n_classes is not None and scores.shape[1] != n_classes:
        raise CodecError(f"expected {n_classes} class probabilities per row, got {scores.shape[1]}")
    return scores
