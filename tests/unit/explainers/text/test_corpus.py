"""The reference corpus as a check of text anchors: which texts contain an anchor's words,
the share that agrees, its lower bound, and when no anchor with more words could pass."""

from __future__ import annotations

import numpy as np
import pytest

from explainers.anchors.search import clopper_pearson
from explainers.text.corpus import Corpus, texts_needed

TEXTS = ["Please refund me", "no refund, please", "great food", "REFUND now", "food, please"]


def test_support_is_the_texts_with_every_word_in_any_case() -> None:
    corpus = Corpus(TEXTS, max_texts=100)
    assert corpus.support(["refund"]).tolist() == [0, 1, 3]
    assert corpus.support(["Refund", "PLEASE"]).tolist() == [0, 1]
    assert corpus.support(["refund", "food"]).tolist() == []
    assert corpus.support(["unseen"]).tolist() == []
    assert corpus.support([]).tolist() == [0, 1, 2, 3, 4]


def test_a_large_reference_is_spread_evenly_to_max_texts() -> None:
    corpus = Corpus([f"text {i}" for i in range(1000)], max_texts=10)
    assert len(corpus) == 10
    assert corpus.texts_to_predict[0] == "text 0" and corpus.texts_to_predict[-1] == "text 999"


def test_the_check_counts_agreeing_texts_and_bounds_their_share() -> None:
    corpus = Corpus(["a b"] * 70 + ["a c"] * 30, max_texts=1000)
    corpus.classes = np.array([1] * 70 + [0] * 30)
    a = corpus.check(["a"], 1, threshold=0.95, confidence=0.95, min_support=20)
    assert (a.support, a.agree, a.precision) == (100, 70, 0.7)
    assert a.lower == pytest.approx(clopper_pearson(70, 100, 0.95)[0])
    assert not a.passed and a.alive  # 70 agreeing texts: "a b" could pass
    ab = corpus.check(["a", "b"], 1, threshold=0.95, confidence=0.95, min_support=20)
    assert (ab.support, ab.agree, ab.passed) == (70, 70, True)
    ac = corpus.check(["a", "c"], 1, threshold=0.95, confidence=0.95, min_support=20)
    assert (ac.agree, ac.lower, ac.passed, ac.alive) == (0, 0.0, False, False)


def test_too_little_support_neither_passes_nor_lives() -> None:
    corpus = Corpus(["a"] * 10, max_texts=100)
    corpus.classes = np.ones(10, dtype=int)
    check = corpus.check(["a"], 1, threshold=0.5, confidence=0.5, min_support=20)
    assert (check.support, check.precision, check.lower) == (10, 1.0, 0.0)
    assert not check.passed and not check.alive
    loose = corpus.check(["a"], 1, threshold=0.5, confidence=0.5, min_support=5)
    assert loose.passed and loose.alive


@pytest.mark.parametrize(("threshold", "confidence"), [(0.95, 0.95), (0.9, 0.99), (0.8, 0.5)])
def test_texts_needed_is_the_fewest_all_agreeing_texts_that_pass(
    threshold: float, confidence: float
) -> None:
    n = int(texts_needed(threshold, confidence))
    assert clopper_pearson(n, n, confidence)[0] >= threshold
    assert clopper_pearson(n - 1, n - 1, confidence)[0] < threshold
    assert texts_needed(1.0, 0.95) == float("inf")


def test_the_check_needs_the_classes() -> None:
    with pytest.raises(RuntimeError):
        Corpus(TEXTS, max_texts=10).check(["a"], 1, threshold=0.9, confidence=0.9, min_support=1)


def test_coverage_is_over_every_text_and_the_check_over_those_predicted() -> None:
    texts = ["good tea"] * 6 + ["bad tea"] * 4
    corpus = Corpus(texts, max_texts=5)
    assert corpus.coverage(["tea"]) == 1.0 and corpus.coverage(["good"]) == 0.6
    corpus.classes = np.array([int(t == "good tea") for t in corpus.texts_to_predict])
    check = corpus.check(["tea"], 1, threshold=0.5, confidence=0.5, min_support=1)
    assert check.support == len(corpus) == 5
    assert check.agree == sum(t == "good tea" for t in corpus.texts_to_predict)
