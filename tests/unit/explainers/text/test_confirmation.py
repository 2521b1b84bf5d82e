"""A text anchor is confirmed by a sequential test: a clear anchor on one look of
``confirm_samples`` fresh texts, one near the threshold on more, so that it is not
accepted on the noise of a hundred texts.

The model flags a text that keeps "refund" unless all four of "one two three four" are
masked: "refund" alone holds in 15 of 16 perturbed texts (0.9375, below 0.95), "refund one"
in all of them, and without "refund" half the texts are flagged."""

from __future__ import annotations

import numpy as np

from explainers.anchors.search import clopper_pearson
from explainers.text.anchors import CONFIRM_LOOKS, TextAnchorParams, _Search
from explainers.tokens import tokenize

TEXT = "refund one two three four"
WORDS = ("one", "two", "three", "four")


class Model:
    """Class 1 (flagged) as above; counts the texts it is asked about."""

    target = 1

    def __init__(self) -> None:
        self.texts = 0

    def classes(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        flagged = ["refund" in t.split() and any(w in t.split() for w in WORDS) for t in texts]
        return np.array(flagged, dtype=int)


def confirm(anchor: set[str], seed: int) -> tuple[bool, int, np.ndarray]:
    """Whether ``anchor`` is confirmed, the texts it cost, its fresh hits."""
    model = Model()
    params = TextAnchorParams(seed=seed, corpus_precision=False)
    search = _Search(TEXT, tokenize(TEXT), params, model)  # type: ignore[arg-type]
    accepted = search._confirm(frozenset(anchor))
    return accepted, model.texts, search._confirmed[-1][2]


def test_a_clear_anchor_and_a_hopeless_one_take_one_look() -> None:
    accepted, texts, _ = confirm({"refund", "one"}, seed=0)
    assert accepted and texts == 100
    accepted, texts, _ = confirm(set(), seed=0)
    assert not accepted and texts == 100


def test_an_anchor_near_the_threshold_is_looked_at_again_and_accepted_less_often() -> None:
    accepted, on_first_look, looked_again = 0, 0, 0
    for seed in range(20):
        ok, texts, hits = confirm({"refund"}, seed)
        assert len(hits) == texts <= 100 * sum(CONFIRM_LOOKS)
        lower, upper = clopper_pearson(int(hits[:100].sum()), 100, 0.95)
        assert (texts == 100) == (lower >= 0.95 or upper < 0.95)  # settled on the first look
        looked_again += texts > 100
        accepted += ok
        on_first_look += hits[:100].mean() >= 0.95  # what one look of 100 would decide
    assert looked_again >= 10, looked_again
    assert accepted < on_first_look, (accepted, on_first_look)
