"""Anchors for text: the words that, kept in place, lock the prediction while the other
tokens are masked at random (replaced by the mask token, or deleted).

A batched beam search over a pool of scored perturbed texts: one unconditioned batch, then
each round ranks every candidate (the beam's anchors plus one more word) by its pooled
precision, scores the ``beam_size`` most promising on ``batch_size`` texts each in one model
call, and confirms the leader on ``confirm_samples`` fresh texts; the first anchor whose
fresh precision reaches the threshold is the answer, so it is one of the smallest.
Coverage is the share of the reference texts that contain every anchor word.

With ``corpus_precision`` (the default) an anchor must also hold on real texts: of the
reference texts that contain every anchor word (at least ``min_support`` of them), the
share the model gives the explained class must reach the threshold at its one-sided
Clopper-Pearson lower bound (``explainers.text.corpus``). The model's classes of the
reference texts are asked once, by the explainer's first explanation that needs them, and
kept. Candidates are then ranked by the smaller of their pooled and corpus estimates; when
no anchor passes both within ``max_anchor_size`` words, the answer is the one that holds
on perturbed texts and does best on the corpus, and the result says so (``corpus_met``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field

from explainers.anchors.search import clopper_pearson
from explainers.budget import CostEstimate, Tally
from explainers.explanation import Prediction
from explainers.schema import FeatureSchema
from explainers.text.base import TextExplainer, TextModel, TextParams
from explainers.text.corpus import Corpus, CorpusCheck
from explainers.text.masking import masked_text
from explainers.text_results import TextAnchorFidelity, TextAnchorResult, TextToken
from explainers.tokens import Token

MAX_EXAMPLES = 5
#: anchors confirmed at most when none passes the corpus check
FALLBACK_TRIES = 2
#: the looks of a confirmation, in ``confirm_samples``: at most eight times as many in all
CONFIRM_LOOKS = (1, 1, 2, 4)


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
        100,
        ge=10,
        le=5000,
        description="fresh perturbed texts of the first look that decides the precision "
        "(a sequential test: up to eight times as many)",
    )
    beam_size: int = Field(2, ge=1, le=10)
    max_anchor_size: int = Field(4, ge=1, le=10, description="the most words in an anchor")
    corpus_precision: bool = Field(
        True,
        description="an anchor must also hold on the reference texts that contain its words "
        "(the share the model gives the class, at its lower bound, reaches the threshold)",
    )
    min_support: int = Field(
        20, ge=1, le=100_000, description="reference texts with the words needed to decide it"
    )
    corpus_max_texts: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="reference texts the model is asked once for corpus_precision "
        "(evenly spread over the reference data; fixed when built)",
    )


#: what checks a candidate anchor on the corpus
Checker = Callable[[frozenset[str]], CorpusCheck]


class TextAnchorsExplainer(TextExplainer):
    method = "anchors"
    Params = TextAnchorParams
    fit_params = frozenset({"corpus_max_texts"})

    def fit(self) -> None:
        self._corpus = Corpus(self.texts, self.params.corpus_max_texts)
        self._corpus_lock = threading.Lock()

    def _checker(self, params: Any, model: TextModel) -> Checker:
        """Checks on the reference corpus, whose classes are asked of ``model`` (counted in
        this explanation) unless an earlier explanation has asked them."""
        corpus = self._corpus
        with self._corpus_lock:
            if corpus.classes is None:
                corpus.classes = model.classes(corpus.texts_to_predict)
        checks: dict[frozenset[str], CorpusCheck] = {}

        def check(anchor: frozenset[str]) -> CorpusCheck:
            if anchor not in checks:
                checks[anchor] = corpus.check(
                    anchor,
                    model.target,
                    threshold=params.threshold,
                    confidence=params.confidence,
                    min_support=params.min_support,
                )
            return checks[anchor]

        return check

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
        one confirming the leader. It does not grow with the text's length. With
        ``corpus_precision``: the reference texts (the explainer's first explanation asks
        them), one more candidate per round (the likeliest to hold on perturbed texts) and
        ``FALLBACK_TRIES`` more confirmations, of the best anchors when none passes the
        corpus, and the search without the check when nothing held on perturbed texts."""
        tally = Tally(max_batch_rows).call(1)
        searches = (
            [params.beam_size + 1, params.beam_size]
            if params.corpus_precision
            else [params.beam_size]
        )
        for beam in searches:
            tally.call(params.batch_size)
            _confirm_cost(tally, params)
            for _ in range(params.max_anchor_size):
                tally.call(beam * params.batch_size)
                _confirm_cost(tally, params)
        drivers = ["batch_size", "max_anchor_size", "beam_size", "confirm_samples"]
        if params.corpus_precision:
            tally.call(min(reference_rows, params.corpus_max_texts))
            for _ in range(FALLBACK_TRIES):
                _confirm_cost(tally, params)
            drivers.append("corpus_max_texts")
        return tally.estimate(tuple(drivers))

    def _explain_text(
        self,
        text: str,
        tokens: list[Token],
        params: Any,
        model: TextModel,
        prediction: Prediction,
    ) -> tuple[TextAnchorResult, TextAnchorFidelity]:
        check = self._checker(params, model) if params.corpus_precision else None
        search = _Search(text, tokens, params, model, check)
        anchor, hits, samples, rounds = search.run()
        candidates = search.candidates
        if check is not None and not _holds(hits, params.threshold):
            # ranked by the corpus, the search found nothing that holds even on perturbed
            # texts: the search without the check, whose anchor at least does
            plain = _Search(text, tokens, params, model)
            found = plain.run()
            candidates += plain.candidates
            if _holds(found[1], params.threshold):
                anchor, hits, samples, rounds = found
        checked = check(anchor) if check is not None else None
        words = sorted(anchor, key=lambda w: _first(tokens, w))
        precision = float(np.mean(hits)) if len(hits) else 1.0
        lower = _lower_bound(int(np.sum(hits)), len(hits), params.confidence)
        result = TextAnchorResult(
            words=words,
            tokens=[
                TextToken(text=t.text, start=t.start, end=t.end, anchor=t.text in words)
                for t in tokens
            ],
            precision=precision,
            coverage=self._corpus.coverage(words),
            mask=params.mask_text,
            examples_hold=[s for s, h in zip(samples, hits, strict=True) if h][:MAX_EXAMPLES],
            examples_fail=[s for s, h in zip(samples, hits, strict=True) if not h][:MAX_EXAMPLES],
            corpus_precision=None if checked is None else checked.precision,
            corpus_support=None if checked is None else checked.support,
            corpus_met=None if checked is None else checked.passed,
        )
        fidelity = TextAnchorFidelity(
            precision=precision,
            samples=len(hits),
            precision_lower=lower,
            confidence=params.confidence,
            threshold=params.threshold,
            threshold_met=precision >= params.threshold,
            rounds=rounds,
            candidates=candidates,
            corpus_precision_lower=None if checked is None else checked.lower,
            corpus_texts=None if check is None else len(self._corpus),
            min_support=None if check is None else params.min_support,
        )
        return result, fidelity


def _confirm_cost(tally: Tally, params: Any) -> None:
    """One confirmation that takes every look."""
    for look in CONFIRM_LOOKS:
        tally.call(look * params.confirm_samples)


def _holds(hits: np.ndarray, threshold: float) -> bool:
    """Whether fresh texts ``hits`` keep the prediction at least ``threshold`` of the time."""
    return bool(len(hits)) and float(np.mean(hits)) >= threshold


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
    drawn fresh and are not among those that chose the anchor.

    ``check`` (None: perturbed texts only) is the corpus check a returned anchor must pass
    too; it costs no model call."""

    def __init__(
        self,
        text: str,
        tokens: list[Token],
        params: Any,
        model: TextModel,
        check: Checker | None = None,
    ) -> None:
        self.text, self.tokens, self.params, self.model = text, tokens, params, model
        self.check = check
        self.rng = np.random.default_rng(params.seed)
        self.words = sorted({t.text for t in tokens if t.is_word}, key=lambda w: _first(tokens, w))
        self.candidates = 0
        self._kept = np.zeros((0, len(self.words)), dtype=bool)  # pooled texts x words
        self._hits = np.zeros(0, dtype=bool)
        #: confirmed anchors: (fresh precision, anchor, fresh hits, their texts)
        self._confirmed: list[tuple[float, frozenset[str], np.ndarray, list[str]]] = []
        self._unconditioned: tuple[np.ndarray, list[str]] = (np.ones(0, dtype=bool), [])
        #: anchors that held on perturbed texts (pooled) but not on the corpus
        self._held: set[frozenset[str]] = set()

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

    def _live(self, anchors: list[frozenset[str]]) -> bool:
        """Whether the corpus check could pass one of ``anchors`` or an anchor with more
        words (False without a check)."""
        check = self.check
        return check is not None and any(check(a).alive for a in anchors)

    def _rank(self, anchor: frozenset[str]) -> tuple[float, float]:
        """Higher is more promising: the smaller of the pooled estimate and the corpus's
        lower bound, then the pooled estimate."""
        estimate = self._estimate(anchor)
        lower = self.check(anchor).lower if self.check is not None else estimate
        return min(estimate, lower), estimate

    def _pooled_rank(self, anchor: frozenset[str]) -> tuple[float, float]:
        """Higher is more promising: the pooled estimate alone."""
        estimate = self._estimate(anchor)
        return estimate, estimate

    def _corpus_rank(self, anchor: frozenset[str]) -> tuple[float, float]:
        """How well ``anchor`` does on the corpus: its lower bound, then its smoothed share."""
        if self.check is None:
            return 0.0, 0.0
        checked = self.check(anchor)
        return checked.lower, checked.smoothed

    def _passes_corpus(self, anchor: frozenset[str]) -> bool:
        return self.check is None or self.check(anchor).passed

    def _confirm(self, anchor: frozenset[str], *, pool: bool = True) -> bool:
        """Score ``anchor`` on fresh texts; whether their precision reaches the threshold.

        A sequential test, in looks of ``CONFIRM_LOOKS`` times ``confirm_samples`` texts
        (one call each): it stops once the Clopper-Pearson bounds at ``confidence`` put the
        precision above or below the threshold, and only an anchor put above it is
        confirmed (one still undecided after the last look is not). So a clear anchor costs
        one look, and one near the threshold is not accepted on the noise of a hundred
        texts. Texts that fail it go into the pool (with ``pool``)."""
        p = self.params
        texts: list[str] = []
        kept, fresh = self._kept[:0], np.zeros(0, dtype=bool)
        for look in CONFIRM_LOOKS:
            drawn, more_kept, more = self._score([anchor], look * p.confirm_samples)
            texts += drawn[0]
            kept, fresh = np.concatenate([kept, more_kept]), np.concatenate([fresh, more[0]])
            lower, upper = clopper_pearson(int(fresh.sum()), len(fresh), p.confidence)
            if lower >= p.threshold or upper < p.threshold:
                break
        precision = float(fresh.mean())
        self._confirmed.append((precision, anchor, fresh, texts))
        if lower < p.threshold:
            if pool:
                self._pool(kept, fresh)
            return False
        return True

    def run(self) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        """(anchor, fresh hits, their texts, rounds)."""
        p = self.params
        empty: frozenset[str] = frozenset()
        if not self.tokens:
            return empty, np.ones(0, dtype=bool), [], 0
        drawn, kept, hits = self._score([empty], p.batch_size)
        self._pool(kept, hits)
        self._unconditioned = (hits[0], drawn[0])
        self.candidates += 1
        if hits.mean() >= p.threshold:
            if self._passes_corpus(empty) or not self._live([empty]):
                if self._confirm(empty, pool=False):
                    return self._last(0)
            else:
                self._held.add(empty)
        beam = [empty]
        size = 0
        for size in range(1, min(p.max_anchor_size, len(self.words)) + 1):
            candidates = sorted(
                {anchor | {w} for anchor in beam for w in self.words if w not in anchor},
                key=lambda a: sorted(_first(self.tokens, w) for w in a),
            )
            if not candidates:
                break
            live = self._live(candidates)
            # no anchor of more words can pass the corpus: the best so far, if it holds on
            # fresh texts; else the search goes on on perturbed texts only
            if not live and self._held and self._confirm_fallback():
                return self._last(size - 1)
            self.candidates += len(candidates)
            rank = self._rank if live else self._pooled_rank
            promising = sorted(candidates, key=rank, reverse=True)[: p.beam_size]
            if live:  # and the likeliest to hold on perturbed texts
                likeliest = max(candidates, key=self._estimate)
                if likeliest not in promising:
                    promising.append(likeliest)
            _, kept, more = self._score(promising, p.batch_size)
            self._pool(kept, more)
            beam = sorted(promising, key=rank, reverse=True)
            holding = [a for a in beam if self._estimate(a) >= p.threshold]
            # where the corpus cannot decide, the perturbed texts do (as without a check)
            passing = [a for a in holding if self._passes_corpus(a)] if live else holding
            if passing:
                if self._confirm(passing[0]):
                    return self._last(size)
            else:
                self._held.update(holding)
        self._confirm_fallback()
        return self._best(size)

    def _confirm_fallback(self) -> bool:
        """Confirm, best on the corpus first (then the fewest words), at most
        ``FALLBACK_TRIES`` of the anchors that held on perturbed texts but not on the
        corpus and whose pooled estimate still reaches the threshold, until one holds on
        fresh texts: whether one did. Done once: it empties the list."""
        threshold = self.params.threshold
        still = [a for a in self._held if self._estimate(a) >= threshold]
        self._held.clear()
        still.sort(  # ties: the earlier words first
            key=lambda a: (
                *self._corpus_rank(a),
                -len(a),
                [-i for i in sorted(_first(self.tokens, w) for w in a)],
            ),
            reverse=True,
        )
        return any(self._confirm(a, pool=bool(a)) for a in still[:FALLBACK_TRIES])

    def _last(self, size: int) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        """The anchor confirmed last, as ``run`` answers it."""
        _, anchor, fresh, texts = self._confirmed[-1]
        return anchor, fresh, texts, size

    def _best(self, size: int) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        """Of the confirmed anchors: those that hold on fresh texts, the best on the corpus
        (the first without a corpus check); else the most precise."""
        if not self._confirmed:  # no anchor was ever likely to hold: the unconditioned batch
            hits, texts = self._unconditioned
            return frozenset(), hits, texts, size
        holding = [c for c in self._confirmed if c[0] >= self.params.threshold]
        if holding:
            chosen = max(holding, key=lambda c: self._corpus_rank(c[1]))  # the first: a tie
        else:
            chosen = max(self._confirmed, key=lambda c: c[0])
        return chosen[1], chosen[2], chosen[3], size
