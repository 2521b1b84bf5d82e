"""Anchor rules in both forms as predicates, and which rows of a matrix satisfy them.

The service answers structured conditions (``result.conditions``: ``{feature, operator,
value}``, a categorical value being the category's name); alibi, as MLServer answers it,
readable strings (``data.anchor``): ``"relationship = Husband"``, ``"age <= 28.00"``,
``"28.00 < age <= 37.00"``, ``"hours-per-week > 45.00"``. Both become ``Predicate``s in the
matrix space, where a categorical feature holds its ordinal code.

A rule's length is its number of predicates: a range ``a < x <= b`` counts as the two
bounds it is made of, so both forms of the same rule have the same length.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

_NUMBER = r"-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER}) < (.+) <= ({_NUMBER})$")
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    ">=": operator.ge,
}


class Predicate(NamedTuple):
    """``feature operator value``; ``value`` is a number (an ordinal code for a category)."""

    feature: str
    operator: str
    value: float


def _value(feature: str, op: str, value: Any, categories: Mapping[str, Sequence[str]]) -> float:
    if op not in _OPERATORS:
        raise ValueError(f"unknown operator {op!r} in a condition on {feature!r}")
    if feature in categories:
        if op != "=":
            raise ValueError(f"categorical feature {feature!r} compared with {op!r}")
        names = list(categories[feature])
        if isinstance(value, str):
            if value not in names:
                raise ValueError(f"{value!r} is not a category of {feature!r}")
            return float(names.index(value))
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(f"{value!r} is not a category code of {feature!r}")
        if not 0 <= value < len(names):
            raise ValueError(f"code {value} is out of range for {feature!r}")
        return float(value)
    return float(value)


def from_conditions(
    conditions: Sequence[Mapping[str, Any]], categories: Mapping[str, Sequence[str]]
) -> list[Predicate]:
    """The service's ``result.conditions`` as predicates. ``categories`` maps each
    categorical feature to its categories in code order; a categorical value may be the
    category's name or its code."""
    return [
        Predicate(
            c["feature"], c["operator"], _value(c["feature"], c["operator"], c["value"], categories)
        )
        for c in conditions
    ]


def from_alibi(
    anchor: Sequence[str], names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> list[Predicate]:
    """alibi's readable predicates (``data.anchor``) as predicates; ``names`` are the
    feature names. Raises ValueError for a predicate it cannot read."""
    predicates: list[Predicate] = []
    for text in anchor:
        predicates += _parse_alibi(text.strip(), names, categories)
    return predicates


def _parse_alibi(
    text: str, names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> list[Predicate]:
    match = _RANGE.match(text)
    if match and match.group(2) in names:
        low, name, high = match.groups()
        return [Predicate(name, ">", float(low)), Predicate(name, "<=", float(high))]
    for name in names:
        for op in ("<=", ">=", "=", "<", ">"):
            prefix = f"{name} {op} "
            if text.startswith(prefix):
                raw: Any = text[len(prefix) :]
                if name not in categories:
                    raw = float(raw)
                return [Predicate(name, op, _value(name, op, raw, categories))]
    raise ValueError(f"cannot read the predicate {text!r}")


def mask(predicates: Sequence[Predicate], matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Rows of ``matrix`` (n, d; columns in ``names`` order) that satisfy every predicate.
    No predicates: every row."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"matrix of shape {matrix.shape} for {len(names)} features")
    column = {name: j for j, name in enumerate(names)}
    holds = np.ones(len(matrix), dtype=bool)
    for p in predicates:
        if p.feature not in column:
            raise ValueError(f"unknown feature {p.feature!r}")
        holds &= _OPERATORS[p.operator](matrix[:, column[p.feature]], p.value)
    return holds


def length(predicates: Sequence[Predicate]) -> int:
    """The number of predicates (a range counts as its two bounds)."""
    return len(predicates)
