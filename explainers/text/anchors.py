"""Anchors for text: the words that, kept in place, lock the prediction while the other
tokens are masked at random (replaced by the mask token, or deleted).

A batched beam search over a pool of scored perturbed texts: one unconditioned batch, then
each round ranks every candidate (the beam's anchors plus one more word) by its pooled
precision, scores the ``beam_size`` most promising on ``batch_size`` texts each in one model
call, and confirms the leader on ``confirm_samples`` fresh texts; the first anchor whose
fresh precision reaches the threshold is the answer, so it is one of the smallest.
Coverage is the share of the reference texts that contain every anchor word.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers.anchors.search import clopper_pearson
from explainers.budget import CostEstimate, Tally
from explainers.explanation import Prediction
from explainers.schema import FeatureSchema
from explainers.text.base import TextExplainer, TextModel, TextParams, words_of
from explainers.text.masking import masked_text
from explainers.text_results import TextAnchorFidelity, TextAnchorResult, TextToken
from explainers.tokens import Token

MAX_EXAMPLES = 5


class TextAnchorParams(TextParams):
    threshold: float = Field(0.95, gt=0, le=1, description="precision the anchor must reach")
    confidence: float = Field(0.95, gt=0, lt=1, description="of the precision's lower bound")
    keep_probability: float = Field(
        0.5, gt=0, lt=1, description="chance that a word outside the anchor is kept"
    )
    batch_size: int = Field(
        32, ge=4, le=1000, description="perturbed texts per promising candidate and round"
    )
    confirm_samples: int = Field(
        100, ge=10, le=5000, description="fresh perturbed texts that decide the precision"
    )
    beam_size: int = Field(2, ge=1, le=10)
    max_anchor_size: int = Field(4, ge=1, le=10, description="the most words in an anchor")


class TextAnchorsExplainer(TextExplainer):
    method = "anchors"
    Params = TextAnchorParams

    def fit(self) -> None:
        self._corpus = [words_of(text) for text in self.texts]

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: the instance, one unconditioned batch and its confirmation, then
        per anchor size one call for the ``beam_size`` most promising candidates and at most
        one confirming the leader. It does not grow with the text's length."""
        tally = Tally(max_batch_rows).call(1).call(params.batch_size).call(params.confirm_samples)
        for _ in range(params.max_anchor_size):
            tally.call(params.beam_size * params.batch_size)
            tally.call(params.confirm_samples)
        return tally.estimate(("batch_size", "max_anchor_size", "beam_size", "confirm_samples"))

    def _explain_text(
        self,
        text: str,
        tokens: list[Token],
        params: Any,
        model: TextModel,
        prediction: Prediction,
    ) -> tuple[TextAnchorResult, TextAnchorFidelity]:
        search = _Search(text, tokens, params, model)
        anchor, hits, samples, rounds = search.run()
        words = sorted(anchor, key=lambda w: _first(tokens, w))
        precision = float(np.mean(hits)) if len(hits) else 1.0
        lower = _lower_bound(int(np.sum(hits)), len(hits), params.confidence)
        wanted = {w.lower() for w in words}
        covered = sum(1 for text_words in self._corpus if wanted <= text_words)
        result = TextAnchorResult(
            words=words,
            tokens=[
                TextToken(text=t.text, start=t.start, end=t.end, anchor=t.text in words)
                for t in tokens
            ],
            precision=precision,
            coverage=covered / len(self._corpus),
            mask=params.mask_text,
            examples_hold=[s for s, h in zip(samples, hits, strict=True) if h][:MAX_EXAMPLES],
            examples_fail=[s for s, h in zip(samples, hits, strict=True) if not h][:MAX_EXAMPLES],
        )
        fidelity = TextAnchorFidelity(
            precision=precision,
            samples=len(hits),
            precision_lower=lower,
            confidence=params.confidence,
            threshold=params.threshold,
            threshold_met=precision >= params.threshold,
            rounds=rounds,
            candidates=search.candidates,
        )
        return result, fidelity


def _first(tokens: list[Token], word: str) -> int:
    return next(i for i, t in enumerate(tokens) if t.text == word)


def _lower_bound(hits: int, n: int, confidence: float) -> float:
    """The one-sided Clopper-Pearson lower bound of a share ``hits / n``."""
    return clopper_pearson(hits, n, confidence)[0]


class _Search:
    """One search; an anchor is a frozenset of word forms (every occurrence kept).

    Every perturbed text scored goes into a pool (its kept tokens and whether the
    prediction held), and a candidate's precision is estimated from the pooled texts that
    keep all its words, whichever anchor they were drawn for: one unconditioned batch
    already says something of every single word. The texts that decide the precision are
    drawn fresh and are not among those that chose the anchor."""

    def __init__(self, text: str, tokens: list[Token], params: Any, model: TextModel) -> None:
        self.text, self.tokens, self.params, self.model = text, tokens, params, model
        self.rng = np.random.default_rng(params.seed)
        self.words = sorted({t.text for t in tokens if t.is_word}, key=lambda w: _first(tokens, w))
        self.candidates = 0
        self._kept = np.zeros((0, len(self.words)), dtype=bool)  # pooled texts x words
        self._hits = np.zeros(0, dtype=bool)

    def _draw(self, anchor: frozenset[str], n: int) -> tuple[list[str], np.ndarray]:
        """``n`` perturbed texts keeping ``anchor``, and the words each keeps (n, words)."""
        keep = self.rng.random((n, len(self.tokens))) < self.params.keep_probability
        keep |= np.array([t.text in anchor for t in self.tokens], dtype=bool)
        mask = self.params.mask_text
        texts = [masked_text(self.text, self.tokens, row, mask) for row in keep]
        kept = np.array(
            [
                [
                    all(k for t, k in zip(self.tokens, row, strict=True) if t.text == w)
                    for w in self.words
                ]
                for row in keep
            ],
            dtype=bool,
        ).reshape(n, len(self.words))
        return texts, kept

    def _score(
        self, anchors: list[frozenset[str]], n: int
    ) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
        """``n`` fresh texts per anchor, scored in one call: (texts, words kept, hits)."""
        drawn = [self._draw(anchor, n) for anchor in anchors]
        flat = [t for texts, _ in drawn for t in texts]
        hits = np.asarray(self.model.classes(flat) == self.model.target, dtype=bool)
        kept = np.concatenate([k for _, k in drawn]) if drawn else self._kept[:0]
        return [texts for texts, _ in drawn], kept, hits.reshape(len(anchors), n)

    def _pool(self, kept: np.ndarray, hits: np.ndarray) -> None:
        self._kept = np.concatenate([self._kept, kept])
        self._hits = np.concatenate([self._hits, hits.reshape(-1)])

    def _estimate(self, anchor: frozenset[str]) -> float:
        """The pooled precision of ``anchor``, shrunk towards 1/2 when few texts keep it."""
        columns = [self.words.index(w) for w in anchor]
        rows = self._kept[:, columns].all(axis=1) if columns else np.ones(len(self._hits), bool)
        return float((self._hits[rows].sum() + 1) / (rows.sum() + 2))

    def run(self) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        """(anchor, fresh hits, their texts, rounds)."""
        p = self.params
        empty: frozenset[str] = frozenset()
        if not self.tokens:
            return empty, np.ones(0, dtype=bool), [], 0
        _, kept, hits = self._score([empty], p.batch_size)
        self._pool(kept, hits)
        self.candidates += 1
        best: tuple[float, frozenset[str], np.ndarray, list[str]] | None = None
        if hits.mean() >= p.threshold:
            texts, _, fresh = self._score([empty], p.confirm_samples)
            best = (float(fresh.mean()), empty, fresh[0], texts[0])
            if best[0] >= p.threshold:
                return empty, fresh[0], texts[0], 0
        beam = [empty]
        size = 0
        for size in range(1, min(p.max_anchor_size, len(self.words)) + 1):
            candidates = sorted(
                {anchor | {w} for anchor in beam for w in self.words if w not in anchor},
                key=lambda a: sorted(_first(self.tokens, w) for w in a),
            )
            if not candidates:
                break
            self.candidates += len(candidates)
            ranked = sorted(candidates, key=self._estimate, reverse=True)
            promising = ranked[: p.beam_size]
            _, kept, more = self._score(promising, p.batch_size)
            self._pool(kept, more)
            beam = sorted(promising, key=self._estimate, reverse=True)
            leader = beam[0]
            if self._estimate(leader) >= p.threshold:
                texts, kept, fresh = self._score([leader], p.confirm_samples)
                precision = float(fresh.mean())
                if best is None or precision > best[0]:
                    best = (precision, leader, fresh[0], texts[0])
                if precision >= p.threshold:
                    return leader, fresh[0], texts[0], size
                self._pool(kept, fresh)
        if best is None:
            return empty, self._hits[: p.batch_size], [], size
        return best[1], best[2], best[3], size
