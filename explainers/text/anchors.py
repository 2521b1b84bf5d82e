"""Anchors for text: the words that, kept in place, lock the prediction while the other
tokens are masked at random (replaced by the mask token, or deleted).

A batched beam search: each round scores every candidate anchor (the beam's anchors plus
one more word) on ``batch_size`` perturbed texts in one model call, scores the most
promising again on twice as many, and confirms the best on ``confirm_samples`` fresh texts;
the first anchor whose fresh precision reaches the threshold is the answer, so it is one of
the smallest. Coverage is the share of the reference texts that contain every anchor word.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field
from scipy.stats import beta

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
    batch_size: int = Field(32, ge=4, le=1000, description="perturbed texts per candidate")
    confirm_samples: int = Field(
        200, ge=10, le=5000, description="fresh perturbed texts that decide the precision"
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
        """An upper bound for the longest text allowed (``max_text_tokens`` words): the
        instance, the empty anchor and its confirmation, then per anchor size one call of
        every candidate (at most ``beam_size`` x words), one of the most promising on twice
        the samples and one confirming the beam."""
        feature = schema.text_feature
        words = feature.max_tokens if feature is not None else 1
        tally = Tally(max_batch_rows).call(1).call(params.batch_size).call(params.confirm_samples)
        for size in range(1, params.max_anchor_size + 1):
            candidates = min(words, params.beam_size * words if size > 1 else words)
            tally.call(candidates * params.batch_size)
            tally.call(2 * params.beam_size * 2 * params.batch_size)
            tally.call(params.beam_size * params.confirm_samples)
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
    if n == 0 or hits == 0:
        return 0.0
    return float(beta.ppf(1 - confidence, hits, n - hits + 1))


class _Search:
    """One search; an anchor is a frozenset of word forms (every occurrence kept)."""

    def __init__(self, text: str, tokens: list[Token], params: Any, model: TextModel) -> None:
        self.text, self.tokens, self.params, self.model = text, tokens, params, model
        self.rng = np.random.default_rng(params.seed)
        self.words = sorted({t.text for t in tokens if t.is_word}, key=lambda w: _first(tokens, w))
        self.candidates = 0

    def _positions(self, anchor: frozenset[str]) -> np.ndarray:
        return np.array([t.text in anchor for t in self.tokens], dtype=bool)

    def _texts(self, anchor: frozenset[str], n: int) -> list[str]:
        keep = self.rng.random((n, len(self.tokens))) < self.params.keep_probability
        keep |= self._positions(anchor)
        mask = self.params.mask_text
        return [masked_text(self.text, self.tokens, row, mask) for row in keep]

    def _score(self, anchors: list[frozenset[str]], n: int) -> tuple[list[list[str]], np.ndarray]:
        """``n`` fresh texts per anchor, scored in one call: (texts, hits (len, n))."""
        texts = [self._texts(anchor, n) for anchor in anchors]
        flat = [t for group in texts for t in group]
        hits = self.model.classes(flat) == self.model.target
        return texts, np.asarray(hits, dtype=bool).reshape(len(anchors), n)

    def run(self) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        """(anchor, fresh hits, their texts, rounds)."""
        p = self.params
        empty: frozenset[str] = frozenset()
        if not self.tokens:
            return empty, np.ones(0, dtype=bool), [], 0
        _, hits = self._score([empty], p.batch_size)
        self.candidates += 1
        if hits.mean() >= p.threshold:
            texts, fresh = self._score([empty], p.confirm_samples)
            if fresh.mean() >= p.threshold:
                return empty, fresh[0], texts[0], 0
        beam = [empty]
        best: tuple[float, frozenset[str], np.ndarray, list[str]] | None = None
        size = 0
        for size in range(1, min(p.max_anchor_size, len(self.words)) + 1):
            candidates = sorted(
                {anchor | {w} for anchor in beam for w in self.words if w not in anchor},
                key=lambda a: sorted(_first(self.tokens, w) for w in a),
            )
            if not candidates:
                break
            self.candidates += len(candidates)
            _, hits = self._score(candidates, p.batch_size)
            means = hits.mean(axis=1)
            order = np.argsort(-means, kind="stable")[: 2 * p.beam_size]
            promising = [candidates[i] for i in order]
            _, more = self._score(promising, 2 * p.batch_size)
            combined = (hits[order].sum(axis=1) + more.sum(axis=1)) / (3 * p.batch_size)
            ranked = [promising[i] for i in np.argsort(-combined, kind="stable")]
            beam = ranked[: p.beam_size]
            texts, fresh = self._score(beam, p.confirm_samples)
            precisions = fresh.mean(axis=1)
            for i in np.argsort(-precisions, kind="stable"):
                if best is None or precisions[i] > best[0]:
                    best = (float(precisions[i]), beam[i], fresh[i], texts[i])
            if best is not None and best[0] >= p.threshold:
                return best[1], best[2], best[3], size
        if best is None:
            return empty, hits[0] if len(hits) else np.ones(0, dtype=bool), [], 0
        return best[1], best[2], best[3], size
