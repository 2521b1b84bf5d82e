"""Checking a decoded model answer against what the configuration promises."""

from __future__ import annotations

import numpy as np

from explainer_service.errors import CodecError
from explainers.errors import ModelOutputError
from explainers.model import OutputKind

#: How far from [0, 1] a probability, and from 1 a row's sum, may be by default: rounding
#: (float32 models, answers with three decimals), not a different kind of number.
PROBABILITY_TOLERANCE = 1e-3


def interpret(
    array: np.ndarray,
    output: OutputKind,
    n_rows: int,
    n_classes: int | None = None,
    tolerance: float = PROBABILITY_TOLERANCE,
) -> np.ndarray:
    """The model's answer as scores, one entry per row.

    Returns
    -------
    probabilities: float array (n_rows, n_classes); a single column of positive-class
        probabilities is widened to two columns ``[1 - p, p]``.
    labels: array (n_rows,) of labels as the model sent them.
    regression: float array (n_rows,).

    Raises CodecError when the shape, the row count or the types do not fit, and
    ``ModelOutputError`` for probabilities that are not probabilities: a value outside
    [0, 1] or a row that does not sum to 1, each by more than ``tolerance``.
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
        _check_probabilities(positive[:, None], tolerance, sums=False)
        scores = np.column_stack([1.0 - positive, positive])
    if scores.ndim != 2:
        raise CodecError(f"expected (rows, classes) probabilities, got shape {list(scores.shape)}")
    if n_classes is not None and scores.shape[1] != n_classes:
        raise CodecError(f"expected {n_classes} class probabilities per row, got {scores.shape[1]}")
    _check_probabilities(scores, tolerance, sums=True)
    return scores


def _check_probabilities(scores: np.ndarray, tolerance: float, *, sums: bool) -> None:
    """Raises ``ModelOutputError`` naming the first row whose values are not probabilities."""
    outside = (scores < -tolerance) | (scores > 1 + tolerance)
    if outside.any():
        row = int(np.flatnonzero(outside.any(axis=1))[0])
        raise ModelOutputError(
            f"the model answered probabilities outside [0, 1] (row {row}; tolerance {tolerance:g})",
            scores[row].tolist(),
        )
    if sums and scores.size:
        off = np.abs(scores.sum(axis=1) - 1.0) > tolerance
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise ModelOutputError(
                f"the model answered probabilities that do not sum to 1 (row {row} sums to "
                f"{scores[row].sum():.6g}; tolerance {tolerance:g})",
                scores[row].tolist(),
            )
