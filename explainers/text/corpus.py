"""The reference corpus as a check of text anchors: how the model answers the real texts
that contain an anchor's words.

An anchor's precision is decided on perturbed copies of the explained text; real texts
that merely contain the same words may disagree. The corpus is tokenised once (an index
word -> texts); the model's classes for its texts are given once (``Corpus.classes``) and
kept, so each check afterwards costs no model call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from explainers.anchors.search import clopper_pearson
from explainers.text.base import words_of


@dataclass(frozen=True)
class CorpusCheck:
    """How the model answers the reference texts that contain every word of an anchor.

    ``support``: those texts; ``agree``: those the model gives the explained class;
    ``lower``: the one-sided Clopper-Pearson lower bound of ``agree / support`` (0 below
    ``min_support`` texts); ``passed``: ``lower`` reaches the threshold; ``alive``: this
    anchor, or one with more words, could still pass (adding words only removes texts, so
    it needs at least as many agreeing texts as an all-agreeing share needs to pass)."""

    support: int
    agree: int
    lower: float
    passed: bool
    alive: bool

    @property
    def precision(self) -> float | None:
        return self.agree / self.support if self.support else None

    @property
    def smoothed(self) -> float:
        """The share shrunk towards 1/2, to rank anchors of little support."""
        return (self.agree + 1) / (self.support + 2)


def texts_needed(threshold: float, confidence: float) -> float:
    """The fewest texts, all agreeing, whose lower bound reaches ``threshold``: the lower
    bound of ``n`` of ``n`` is ``(1 - confidence) ** (1 / n)``; infinite for 1."""
    if threshold >= 1:
        return math.inf
    return math.ceil(math.log(1 - confidence) / math.log(threshold) - 1e-9)


class Corpus:
    """The reference texts, tokenised, and at most ``max_texts`` of them (evenly spread)
    whose classes check anchors: ``classes`` is None until the model's classes of
    ``texts_to_predict`` are given."""

    def __init__(self, texts: list[str], max_texts: int) -> None:
        self.texts = texts
        index: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            for word in words_of(text):
                index.setdefault(word, []).append(i)
        self._index = {word: np.asarray(rows, dtype=np.int64) for word, rows in index.items()}
        picked = np.arange(len(texts))
        if len(texts) > max_texts:
            picked = np.unique(np.linspace(0, len(texts) - 1, max_texts).round().astype(int))
        #: position of each text among those predicted, -1 for the others
        self._position = np.full(len(texts), -1, dtype=np.int64)
        self._position[picked] = np.arange(len(picked))
        self.texts_to_predict = [texts[i] for i in picked]
        self.classes: np.ndarray | None = None

    def __len__(self) -> int:
        """The texts that check anchors."""
        return len(self.texts_to_predict)

    def support(self, words: Iterable[str]) -> np.ndarray:
        """The indices of the texts that contain every one of ``words`` (any case)."""
        rows: np.ndarray | None = None
        for word in {w.lower() for w in words}:
            found = self._index.get(word)
            if found is None:
                return np.zeros(0, dtype=np.int64)
            rows = found if rows is None else np.intersect1d(rows, found, assume_unique=True)
        return np.arange(len(self.texts)) if rows is None else rows

    def coverage(self, words: Iterable[str]) -> float:
        """The share of all the texts that contain every one of ``words``."""
        return len(self.support(words)) / len(self.texts) if self.texts else 0.0

    def check(
        self,
        words: Iterable[str],
        target: int,
        *,
        threshold: float,
        confidence: float,
        min_support: int,
    ) -> CorpusCheck:
        """The predicted texts that contain ``words`` and the share the model gives class
        ``target``; a check with too little support has ``lower`` 0 and does not pass."""
        if self.classes is None:
            raise RuntimeError("the corpus's classes are not known yet")
        positions = self._position[self.support(words)]
        positions = positions[positions >= 0]
        agree = int(np.sum(self.classes[positions] == target))
        n = len(positions)
        lower = clopper_pearson(agree, n, confidence)[0] if n >= min_support else 0.0
        alive = agree >= max(min_support, texts_needed(threshold, confidence))
        return CorpusCheck(n, agree, float(lower), lower >= threshold, alive)
