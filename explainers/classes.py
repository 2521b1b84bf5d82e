"""A classifier's class names in the order of its answers.

A model's probability columns, and the index of each label it answers, follow its own list
of classes. When that list is not configured it is inferred from the labels of the reference
data the way scikit-learn's ``classes_`` (``numpy.unique``) orders them: numbers by value, so
``2, 3, 10`` stays in that order, and text as sorted text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def infer_class_names(labels: Iterable[Any], configured: Sequence[str] | None = None) -> list[str]:
    """The class names: ``configured`` when given (they always win), else the distinct
    ``labels`` (missing ones left out) as text, numeric labels in numeric order, others
    sorted as text."""
    if configured:
        return [str(name) for name in configured]
    names = list(dict.fromkeys(str(label) for label in labels if not pd.isna(label)))
    values = [_number(name) for name in names]
    if names and all(value is not None for value in values):
        by_value = dict(zip(names, values, strict=True))
        return sorted(names, key=lambda name: (by_value[name], name))
    return sorted(names)


def _number(text: str) -> float | None:
    """``text`` as a finite number, or None when it is none (``nan`` and ``inf`` are text)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
