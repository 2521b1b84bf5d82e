"""Summaries of measurements: percentiles, ratios, rates. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100, linear interpolation), or None with no values."""
    if not len(values):
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs``, or None when either is missing or ``theirs`` is zero."""
    if ours is None or theirs is None or theirs == 0:
        return None
    if not (math.isfinite(ours) and math.isfinite(theirs)):
        return None
    return ours / theirs


def rate(count: int, seconds: float | None) -> float | None:
    """Events per second, or None when nothing was timed."""
    if not seconds or seconds <= 0:
        return None
    return count / seconds


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """count, median, p95 and max of a list of durations (seconds)."""
    return {
        "count": len(seconds),
        "median_s": median(seconds),
        "p95_s": percentile(seconds, 95),
        "max_s": max(seconds) if len(seconds) else None,
    }
