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


def conjunction(age: float, hours: float):
    """Positive iff age > ``age`` and hours-per-week > ``hours``; probabilities
    [P(neg), P(pos)]. The thresholds may fall between the discretiser's bin edges."""

    def predict(rows: list[list[Any]]) -> np.ndarray:
        positive = (column(rows, "age").astype(float) > age) & (
            column(rows, "hours-per-week").astype(float) > hours
        )
        return np.column_stack([1 - positive, positive]).astype(float)

    return predict


def data_step(values: np.ndarray, threshold: float) -> float:
    """The gap from ``threshold`` to the next distinct value above it in ``values``."""
    above = np.unique(values[values > threshold])
    return float(above[0] - threshold) if len(above) else 0.0


def age_band(low: float, high: float):
    """Positive iff ``low`` < age <= ``high``: a rule with two bounds on one feature."""

    def predict(rows: list[list[Any]]) -> np.ndarray:
        age = column(rows, "age").astype(float)
        positive = (age > low) & (age <= high)
        return np.column_stack([1 - positive, positive]).astype(float)

    return predict


RELATIONSHIP = {"Husband": 3.0, "Wife": 2.0, "Own-child": -2.0, "Unmarried": -1.0}
OCCUPATION = {"Exec-managerial": 4.0, "Prof-specialty": 3.5, "Handlers-cleaners": -1.5}
CATEGORICAL_TERMS = {"relationship": RELATIONSHIP, "occupation": OCCUPATION, "workclass": WORKCLASS}
NUMERIC_TERMS = {"age": 0.5, "hours-per-week": 0.25, "education-num": 1.0}


def additive_terms(rows: list[list[Any]]) -> dict[str, np.ndarray]:
    """Feature -> its term of ``additive_categorical_regression`` for each row (0 for a
    category without one); the features absent here have none."""
    terms = {
        name: np.array([table.get(str(v), 0.0) for v in column(rows, name)])
        for name, table in CATEGORICAL_TERMS.items()
    }
    for name, weight in NUMERIC_TERMS.items():
        terms[name] = weight * column(rows, name).astype(float)
    return terms


def additive_categorical_regression(rows: list[list[Any]]) -> np.ndarray:
    """10 + a constant per relationship, occupation and workclass + weight * age, hours and
    education-num: a feature's Shapley value against independent background rows is its
    term minus the term's mean over them."""
    return INTERCEPT + sum(additive_terms(rows).values(), np.zeros(len(rows)))


def interaction_regression(rows: list[list[Any]]) -> np.ndarray:
    """Products of features, so that sampled coalitions leave an error: age * hours / 100,
    education-num if married, 5 for a man over 40."""
    age = column(rows, "age").astype(float)
    hours = column(rows, "hours-per-week").astype(float)
    education = column(rows, "education-num").astype(float)
    married = column(rows, "marital-status") == "Married-civ-spouse"
    older_man = (column(rows, "gender") == "Male") & (age > 40)
    return age * hours / 100 + education * married + 5.0 * older_man


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
