"""The text methods in-process over the keyword model of known truth: what they find, what
they cost against their estimates, and that a seed fixes the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainers import BlackBox, Budget, BudgetExceededError, FeatureSchema
from explainers.text import get_text_explainer_class
from tests.helpers.servers.keyword_model import proba

REFERENCE = pd.DataFrame({"message": ["please refund me", "great food", "not a scam", "late"]})
TEXT = "The box was torn, so I want a refund for the order today."
SCHEMA = FeatureSchema.infer(REFERENCE, text=["message"])


def sent() -> tuple[BlackBox, list[list[str]]]:
    rows: list[list[str]] = []

    def predict(batch: list[list[str]]) -> np.ndarray:
        rows.extend(batch)
        return np.array(proba([row[0] for row in batch]))

    return BlackBox(predict, class_names=["other", "flagged"]), rows


@pytest.mark.parametrize("method", ["anchors", "shap", "lime"])
def test_each_method_finds_the_word_within_its_estimate(method: str) -> None:
    box, rows = sent()
    cls = get_text_explainer_class(method)
    explanation = cls(SCHEMA, REFERENCE, box).explain([TEXT])
    result = explanation.result
    if method == "anchors":
        assert result.words == ["refund"]  # type: ignore[union-attr]
    else:
        top = max(result.tokens, key=lambda t: abs(t.weight))  # type: ignore[union-attr]
        assert top.text == "refund"
    assert len(rows) == len({row[0] for row in rows}) == explanation.cost.rows  # sent once
    estimate = cls.estimate(cls.validate_params({}), SCHEMA, reference_rows=len(REFERENCE))
    assert explanation.cost.rows <= estimate.rows


@pytest.mark.parametrize("mask", ["token", "delete"])
def test_a_negated_word_does_not_flag_and_the_anchor_is_the_negation(mask: str) -> None:
    box, _ = sent()
    explainer = get_text_explainer_class("anchors")(SCHEMA, REFERENCE, box, {"mask": mask})
    explanation = explainer.explain(["this is not scam at all"])
    assert explanation.prediction is not None and explanation.prediction.label == "other"
    assert explanation.result.words == ["not"]  # type: ignore[union-attr]
    assert explanation.fidelity.threshold_met  # type: ignore[union-attr]


def test_the_seed_fixes_the_answer() -> None:
    box, _ = sent()
    explainer = get_text_explainer_class("shap")(SCHEMA, REFERENCE, box, {"exact_max_tokens": 4})
    first, second = explainer.explain([TEXT]), explainer.explain([TEXT])
    assert first.result == second.result


def test_the_budget_stops_the_search() -> None:
    box, rows = sent()
    explainer = get_text_explainer_class("lime")(SCHEMA, REFERENCE, box)
    with pytest.raises(BudgetExceededError):
        explainer.explain([TEXT], budget=Budget(max_rows=100))
    assert len(rows) <= 100
