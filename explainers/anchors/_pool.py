"""The samples one anchor search has scored to choose rules, kept so later rules reuse them.

A sample drawn for a rule Q counts for a rule R when it satisfies R and Q anchors no feature
that R leaves free: Q's anchored values were drawn where Q holds, every other value comes
from one whole reference row, so among the samples where R holds it is distributed as R's
own samples are (alibi counts a parent rule's samples for its children the same way). A
sample drawn for a longer rule does not count for a shorter one: the value it fixed on the
feature the shorter rule leaves free would flatter the shorter rule. A whole reference row
counts for every rule it satisfies.

Only samples that choose rules come here; those that decide a rule's precision are drawn
afresh (``AnchorSearch._validate``), never taken from the pool.
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
    class, and which features were anchored when each was drawn (none for a whole
    reference row)."""

    def __init__(self, dimensions: int) -> None:
        self._samples = np.empty((0, dimensions))
        self._agree = np.empty(0, dtype=bool)
        self._anchored = np.empty((0, dimensions), dtype=bool)
        self._size = 0
        self._holds: dict[_Holds, np.ndarray] = {}

    def __len__(self) -> int:
        return self._size

    def add(self, samples: np.ndarray, agree: np.ndarray, anchored: np.ndarray) -> None:
        """Keep ``samples`` (m, d) with their answers (m,) and anchored features (m, d)."""
        end = self._size + len(samples)
        if end > len(self._samples):
            room = max(end, 2 * len(self._samples), 1024)
            self._samples = _grown(self._samples, room)
            self._agree = _grown(self._agree, room)
            self._anchored = _grown(self._anchored, room)
        self._samples[self._size : end] = samples
        self._agree[self._size : end] = agree
        self._anchored[self._size : end] = anchored
        self._size = end

    def counts(self, predicates: Sequence[_Holds]) -> tuple[int, int]:
        """(samples that agree, samples) among those that count for the rule made of
        ``predicates`` (see the module's docstring)."""
        if not self._size:
            return 0, 0
        free = np.ones(self._samples.shape[1], dtype=bool)
        free[[p.feature for p in predicates]] = False
        counted = ~self._anchored[: self._size, free].any(axis=1)
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
