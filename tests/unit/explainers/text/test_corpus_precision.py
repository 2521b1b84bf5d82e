"""Text anchors checked on the reference corpus, over the keyword model of known truth
(it flags "refund" unless a negation comes right before it): a word that holds on
perturbed texts but not on real texts that contain it is not the answer when a longer
anchor holds on both; when none does, the answer says so."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainers import BlackBox, Explanation, FeatureSchema
from explainers.text import get_text_explainer_class
from explainers.text.anchors import TextAnchorsExplainer, _Search
from explainers.text_results import TextAnchorFidelity, TextAnchorResult
from tests.helpers.servers.keyword_model import flagged, proba

ITEMS = ["apple", "bread", "cheese", "dates", "eggs", "figs", "grapes", "honey", "ice", "jam"]
TEXT = "please refund the broken parcel"


def recorder() -> tuple[BlackBox, list[str]]:
    sent: list[str] = []

    def predict(batch: list[list[str]]) -> np.ndarray:
        sent.extend(row[0] for row in batch)
        return np.array(proba([row[0] for row in batch]))

    return BlackBox(predict, class_names=["other", "flagged"]), sent


def corpus(*patterns: str, copies: int = 10) -> pd.DataFrame:
    """Each pattern once per item, ``copies`` times (``{}`` is the item)."""
    texts = [p.format(item) for p in patterns for item in ITEMS for _ in range(copies)]
    return pd.DataFrame({"message": texts})


def explain(reference: pd.DataFrame, text: str = TEXT, **params: object) -> Explanation:
    box, _ = recorder()
    schema = FeatureSchema.infer(reference, text=["message"])
    return TextAnchorsExplainer(schema, reference, box, params).explain([text])


def parts(e: Explanation) -> tuple[TextAnchorResult, TextAnchorFidelity]:
    assert isinstance(e.result, TextAnchorResult)
    assert isinstance(e.fidelity, TextAnchorFidelity)
    return e.result, e.fidelity


#: "refund" flags in half of the texts that hold it; "please" ... "refund" in all
MIXED = corpus("please refund the {}", "no refund needed for {}", "great {}")


def test_a_word_that_fails_on_real_texts_is_not_the_anchor_when_a_longer_one_holds() -> None:
    result, fidelity = parts(explain(MIXED))
    assert "refund" in result.words and len(result.words) == 2, result.words
    texts = MIXED["message"]
    containing = [t for t in texts if set(result.words) <= set(t.split())]
    assert result.corpus_support == len(containing) == 100
    assert result.corpus_precision == 1.0 == np.mean([flagged(t) for t in containing])
    assert result.corpus_met is True
    assert fidelity.corpus_precision_lower is not None and fidelity.corpus_precision_lower >= 0.95
    assert fidelity.threshold_met and result.precision >= 0.95
    assert fidelity.corpus_texts == len(MIXED) and fidelity.min_support == 20


def test_without_the_check_the_word_alone_is_the_anchor() -> None:
    result, _ = parts(explain(MIXED, corpus_precision=False))
    assert result.words == ["refund"]
    assert result.corpus_met is None and result.corpus_precision is None
    checked = TextAnchorsExplainer(
        FeatureSchema.infer(MIXED, text=["message"]), MIXED, recorder()[0]
    )._corpus
    checked.classes = np.array([int(flagged(t)) for t in MIXED["message"]])
    alone = checked.check(["refund"], 1, threshold=0.95, confidence=0.95, min_support=20)
    assert alone.precision == 0.5 and not alone.passed  # what the check refused


def test_when_no_anchor_holds_on_real_texts_the_answer_says_so() -> None:
    # every text holds "please", "refund" and "the"; half negate "refund"
    reference = corpus("please refund the {}", "please no refund the {}")
    result, fidelity = parts(explain(reference, "please refund the parcel"))
    assert result.words == ["refund"]  # holds on perturbed texts, best on the corpus
    assert fidelity.threshold_met
    assert result.corpus_met is False
    assert result.corpus_support == 200 and result.corpus_precision == 0.5
    assert fidelity.corpus_precision_lower is not None and fidelity.corpus_precision_lower < 0.5


def test_too_small_a_corpus_says_so_and_costs_only_its_texts() -> None:
    """Four reference texts decide nothing: the search is the one without the check, plus
    the reference texts sent once (what the comparison with alibi relies on)."""
    reference = pd.DataFrame({"message": ["please refund me", "great food", "late", "ok"]})
    checked = explain(reference, "I want a refund for the order.")
    plain = explain(reference, "I want a refund for the order.", corpus_precision=False)
    result, _ = parts(checked)
    assert result.words == parts(plain)[0].words == ["refund"]
    assert result.corpus_met is False and result.corpus_support == 1
    assert checked.cost.rows == plain.cost.rows + len(reference)


def test_the_corpus_is_asked_once_and_a_seed_fixes_the_answer() -> None:
    box, sent = recorder()
    schema = FeatureSchema.infer(MIXED, text=["message"])
    explainer = get_text_explainer_class("anchors")(schema, MIXED, box)
    first, second = explainer.explain([TEXT]), explainer.explain([TEXT])
    assert first.result == second.result
    reference = set(MIXED["message"])
    assert sum(t in reference for t in sent) == len(reference)  # distinct texts, once
    assert first.cost.rows == second.cost.rows + len(reference)
    estimate = TextAnchorsExplainer.estimate(
        TextAnchorsExplainer.validate_params({}), schema, reference_rows=len(MIXED)
    )
    assert first.cost.rows <= estimate.rows


def test_when_the_checked_search_holds_nothing_the_search_without_it_answers(
    monkeypatch,
) -> None:
    """Ranked by the corpus, a search may end with no anchor that holds even on perturbed
    texts; the answer is then the plain search's anchor, with the corpus's verdict on it."""
    real = _Search.run

    def run(search: _Search) -> tuple[frozenset[str], np.ndarray, list[str], int]:
        if search.check is not None:  # as if nothing held: the unconditioned batch
            return frozenset(), np.zeros(4, dtype=bool), ["a", "b", "c", "d"], 3
        return real(search)

    monkeypatch.setattr(_Search, "run", run)
    result, fidelity = parts(explain(MIXED))
    assert result.words == ["refund"] and fidelity.threshold_met
    assert result.corpus_met is False and result.corpus_precision == 0.5
