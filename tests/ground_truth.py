"""Models whose true explanations are known, as plain predict functions over the census schema."""

from __future__ import annotations

from typing import Any

import numpy as np

from examples.income import paths

COLUMN = {name: i for i, name in enumerate(paths.FEATURES)}


def column(rows: list[list[Any]], name: str) -> np.ndarray:
    return np.array([row[COLUMN[name]] for row in rows])


def rule_classifier(rows: list[list[Any]]) -> np.ndarray:
    """Positive iff age > 50 and hours-per-week > 40; probabilities [P(neg), P(pos)]."""
    age = column(rows, "age").astype(float)
    hours = column(rows, "hours-per-week").astype(float)
    positive = ((age > 50) & (hours > 40)).astype(float)
    return np.column_stack([1 - positive, positive])


WEIGHTS = {"age": 2.0, "hours-per-week": 0.5, "capital-gain": -0.001, "education-num": 3.0}
WORKCLASS = {"Private": 1.0, "Self-emp-not-inc": -4.0, "State-gov": 2.5, "Federal-gov": 7.0}
INTERCEPT = 10.0


def additive_regression(rows: list[list[Any]]) -> np.ndarray:
    """10 + sum of weight * numeric feature + a constant per workclass (0 for the others)."""
    total = np.full(len(rows), INTERCEPT)
    for name, weight in WEIGHTS.items():
        total += weight * column(rows, name).astype(float)
    total += np.array([WORKCLASS.get(str(w), 0.0) for w in column(rows, "workclass")])
    return total


def threshold_classifier(rows: list[list[Any]]) -> np.ndarray:
    """Positive iff capital-gain > 5000 or education-num >= 13."""
    gain = column(rows, "capital-gain").astype(float)
    education = column(rows, "education-num").astype(float)
    positive = ((gain > 5000) | (education >= 13)).astype(float)
    return np.column_stack([1 - positive, positive])


THRESHOLD_FEATURES = {"capital-gain", "education-num"}


def schooling_or_hours_classifier(rows: list[list[Any]]) -> np.ndarray:
    """Positive iff education-num <= 8 or hours-per-week >= 50: less schooling is one way to
    the positive class, a way counterfactuals must not take when schooling only increases."""
    education = column(rows, "education-num").astype(float)
    hours = column(rows, "hours-per-week").astype(float)
    positive = ((education <= 8) | (hours >= 50)).astype(float)
    return np.column_stack([1 - positive, positive])


def workclass_classifier(rows: list[list[Any]]) -> np.ndarray:
    """Positive iff workclass is Federal-gov: one change, whatever else changes with it."""
    positive = (column(rows, "workclass") == "Federal-gov").astype(float)
    return np.column_stack([1 - positive, positive])
