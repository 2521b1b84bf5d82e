"""The built samples one anchor search has scored to choose rules, kept so later rules
reuse them.

Each sample keeps the box it was drawn in: for each feature, the interval ``(low, high]``
the rule it was built for held it to (a category ``c`` is ``(c - 1/2, c]``; a free feature
is unbounded). A sample counts for a rule R when it satisfies R and R's box lies inside the
sample's: then the sample was drawn from a distribution at least as wide as R's on every
feature, and among those where R holds it is distributed as R's own samples are (alibi
counts a parent rule's samples for its children the same way). A sample drawn in a narrower
box does not count: a rule ``age > 60`` has no samples of age 59 to 60, which would flatter
``59 < age <= 67``; nor one drawn for a longer rule, whose fixed feature would flatter the
shorter rule.

Whole reference rows are not kept here: the search takes them in one order for every rule
and remembers the model's answer for each (``AnchorSearch._draw``). Only samples that choose
rules come here; those that decide a rule's precision are drawn afresh
(``AnchorSearch._validate``), never taken from the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class _Holds(Protocol):
    """A predicate: ``Predicate`` of ``search``."""

    @property
    def feature(self) -> int: ...

    def holds(self, column: np.ndarray) -> np.ndarray: ...


class SamplePool:
    """Samples (n, d) in the explainer space, whether the model gave each the instance's
    class, and the box each was drawn in (``low``, ``high``: (n, d))."""

    def __init__(self, dimensions: int) -> None:
        self._samples = np.empty((0, dimensions))
        self._agree = np.empty(0, dtype=bool)
        self._low = np.empty((0, dimensions))
        self._high = np.empty((0, dimensions))
        self._size = 0
        self._holds: dict[_Holds, np.ndarray] = {}

    def __len__(self) -> int:
        return self._size

    def add(
        self, samples: np.ndarray, agree: np.ndarray, low: np.ndarray, high: np.ndarray
    ) -> None:
        """Keep ``samples`` (m, d) with their answers (m,) and boxes (``low``, ``high``:
        (m, d) each)."""
        end = self._size + len(samples)
        if end > len(self._samples):
            room = max(end, 2 * len(self._samples), 1024)
            self._samples = _grown(self._samples, room)
            self._agree = _grown(self._agree, room)
            self._low = _grown(self._low, room)
            self._high = _grown(self._high, room)
        self._samples[self._size : end] = samples
        self._agree[self._size : end] = agree
        self._low[self._size : end] = low
        self._high[self._size : end] = high
        self._size = end

    def counts(
        self, predicates: Sequence[_Holds], low: np.ndarray, high: np.ndarray
    ) -> tuple[int, int]:
        """(samples that agree, samples) among those that count for the rule made of
        ``predicates``, whose box is ``low``, ``high`` (d,) (see the module's docstring)."""
        if not self._size:
            return 0, 0
        counted = (self._low[: self._size] <= low).all(axis=1)
        counted &= (self._high[: self._size] >= high).all(axis=1)
        for p in predicates:
            counted &= self._holding(p)
        return int(self._agree[: self._size][counted].sum()), int(counted.sum())

    def _holding(self, predicate: _Holds) -> np.ndarray:
        """Whether ``predicate`` holds for each sample, computed once per sample."""
        known = self._holds.get(predicate, np.empty(0, dtype=bool))
        if len(known) < self._size:
            fresh = predicate.holds(self._samples[len(known) : self._size, predicate.feature])
            known = np.concatenate([known, np.asarray(fresh, dtype=bool)])
            self._holds[predicate] = known
        return known


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out
