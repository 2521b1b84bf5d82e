"""Judging explanations independently of the explainers that made them. Pure functions.

An anchor's precision is re-measured on the evaluation set (rows never used to fit the
model or the explainers): of the rows that satisfy the rule, the share the model gives the
instance's class. Its coverage is the share of evaluation rows that satisfy it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta

from bench import rules


def anchor_quality(
    predicates: Sequence[rules.Predicate],
    evaluation: np.ndarray,
    predicted: np.ndarray,
    instance_class: int,
    names: Sequence[str],
) -> dict[str, Any]:
    """``precision`` (None when no row satisfies the rule), the ``rows`` behind it,
    ``coverage`` and the rule's ``length``. ``predicted`` holds the model's class index for
    each evaluation row."""
    holds = rules.mask(predicates, evaluation, names)
    rows = int(holds.sum())
    precision = float((predicted[holds] == instance_class).mean()) if rows else None
    return {
        "precision": precision,
        "rows": rows,
        "coverage": rows / len(evaluation) if len(evaluation) else None,
        "length": rules.length(predicates),
    }


def precision_summary(
    precisions: Sequence[float | None], threshold: float, rows: Sequence[int] | None = None
) -> dict[str, float | int | None]:
    """Minimum, mean, how many are below ``threshold``, and how many could not be measured
    (no evaluation row satisfies the rule); None where nothing was measured. With the
    evaluation ``rows`` behind each precision: how many are *shown* below ``threshold``,
    the upper end of their one-sided 95% Clopper-Pearson interval below it (a share of a
    few rows is a sample too: 13 of 14 is 0.929, and its interval reaches 0.996)."""
    measured = [p for p in precisions if p is not None]
    summary: dict[str, float | int | None] = {
        "measured": len(measured),
        "unmeasured": len(precisions) - len(measured),
        "min": min(measured) if measured else None,
        "mean": float(np.mean(measured)) if measured else None,
        "below_threshold": sum(p < threshold for p in measured) if measured else None,
    }
    if rows is not None:
        pairs = [(p, n) for p, n in zip(precisions, rows, strict=True) if p is not None and n]
        uppers = [upper_bound(round(p * n), n) for p, n in pairs]
        summary["shown_below_threshold"] = sum(u < threshold for u in uppers) if pairs else None
    return summary


def upper_bound(agree: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper bound of a share ``agree / n``."""
    return 1.0 if agree >= n else float(beta.ppf(confidence, agree + 1, n - agree))


def max_abs_difference(a: Sequence[float] | None, b: Sequence[float] | None) -> float | None:
    """max |a - b| of two equally long vectors, or None when either is missing."""
    if a is None or b is None:
        return None
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"vectors of shapes {x.shape} and {y.shape}")
    return float(np.max(np.abs(x - y))) if x.size else 0.0


@dataclass
class Judge:
    """Reads one applicant's rule in either form and measures it on the evaluation set."""

    names: Sequence[str]
    categories: Mapping[str, Sequence[str]]
    evaluation: np.ndarray
    predicted: np.ndarray
    instance_class: int

    def ours(self, conditions: Sequence[Mapping[str, Any]]) -> list[rules.Predicate]:
        return rules.from_conditions(conditions, self.categories)

    def alibi(self, anchor: Sequence[str]) -> list[rules.Predicate]:
        return rules.from_alibi(anchor, self.names, self.categories)

    def quality(self, predicates: Sequence[rules.Predicate]) -> dict[str, Any]:
        return anchor_quality(
            predicates, self.evaluation, self.predicted, self.instance_class, self.names
        )
