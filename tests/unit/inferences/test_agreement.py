"""The agreement check: today's answer for a logged row against the logged answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from explainer_service.inferences.agreement import (
    NOT_LOGGED,
    answer_of,
    check,
    compare,
    label_of,
    prediction_of_answer,
    sentence,
)
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.store.inferences import Inference
from explainers import OutputKind

CLASSES = ["<=50K", ">50K"]


def inference(answer: dict[str, Any] | None, instance: list[Any] | None = None) -> Inference:
    return Inference(
        "e1", "e1", 0, 1, "kserve", "income", None, None, None, "v2", None, None,
        "2026-12-06T10:00:00Z", "2026-12-06T10:00:00Z", instance or [39, "State-gov"],
        answer, None, None, {},
    )  # fmt: skip


class Model:
    """Answers fixed scores and counts what it was asked."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.asked: list[list[Any]] = []

    def predict(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        self.asked.extend([list(r) for r in rows])
        return self.scores


@pytest.mark.parametrize(
    ("logged", "live", "tolerance", "agrees"),
    [
        ({"scores": [0.8, 0.2]}, {"scores": [0.8, 0.2]}, 1e-6, True),
        ({"scores": [0.8, 0.2]}, {"scores": [0.8 + 5e-7, 0.2 - 5e-7]}, 1e-6, True),
        ({"scores": [0.8, 0.2]}, {"scores": [0.79, 0.21]}, 1e-6, False),
        ({"scores": [0.8, 0.2]}, {"scores": [0.79, 0.21]}, 0.05, True),
        # within the tolerance but the decision flipped: differs
        ({"scores": [0.51, 0.49]}, {"scores": [0.49, 0.51]}, 0.05, False),
        ({"scores": [0.8, 0.2]}, {"scores": [0.8, 0.1, 0.1]}, 1.0, False),
        ({"label": "<=50K"}, {"scores": [0.8, 0.2]}, 1e-6, True),
        ({"label": ">50K"}, {"scores": [0.8, 0.2]}, 1e-6, False),
        ({"label": ">50K"}, {"label": ">50K"}, 0, True),
        ({"value": 12.5}, {"value": 12.5000001}, 1e-6, True),
        ({"value": 12.5}, {"value": 13.0}, 0.1, False),
        ({"value": 12.5}, {"scores": [0.8, 0.2]}, 1.0, False),
    ],
)
def test_compare(logged: dict, live: dict, tolerance: float, agrees: bool) -> None:
    agreement = compare(logged, live, CLASSES, tolerance)
    assert agreement.agrees is agrees
    assert agreement.outcome == ("agrees" if agrees else "differs")
    assert ("differently" in agreement.message) is not agrees
    assert ("today's model" in agreement.note) is not agrees


def test_the_message_names_both_answers() -> None:
    agreement = compare({"scores": [0.3, 0.7]}, {"scores": [0.9, 0.1]}, CLASSES, 1e-6)
    assert "'>50K' (probability 0.700) when the inference was logged" in agreement.message
    assert "'<=50K' (probability 0.900) today" in agreement.message
    assert agreement.difference == pytest.approx(0.6)


def test_check_asks_the_model_once_for_the_logged_row() -> None:
    model = Model(np.array([[0.8, 0.2]]))
    agreement = check(
        model, inference({"scores": [0.8, 0.2]}), OutputKind.probabilities, CLASSES, 1e-6
    )
    assert model.asked == [[39, "State-gov"]]
    assert agreement.agrees is True
    assert agreement.live == {"scores": [0.8, 0.2]}


def test_without_a_logged_answer_the_model_is_not_asked() -> None:
    model = Model(np.array([[0.8, 0.2]]))
    agreement = check(model, inference(None), OutputKind.probabilities, CLASSES, 1e-6)
    assert model.asked == []
    assert agreement.agrees is None and agreement.outcome == "not_checked"
    assert agreement.message == NOT_LOGGED


@pytest.mark.parametrize(
    ("scores", "output", "answer"),
    [
        (np.array([0.25, 0.75]), OutputKind.probabilities, {"scores": [0.25, 0.75]}),
        (np.array(3.5), OutputKind.regression, {"value": 3.5}),
        (np.array(">50K", dtype=object), OutputKind.labels, {"label": ">50K"}),
        (np.int64(1), OutputKind.labels, {"label": "1"}),
    ],
)
def test_answer_of(scores: np.ndarray, output: OutputKind, answer: dict) -> None:
    assert answer_of(scores, output) == answer


def test_labels_and_predictions_of_answers() -> None:
    assert label_of({"scores": [0.2, 0.8]}, CLASSES) == ">50K"
    assert label_of({"scores": [0.2, 0.8]}, None) == "1"
    assert label_of({"value": 1.0}, CLASSES) is None
    prediction = prediction_of_answer({"scores": [0.2, 0.8]}, CLASSES)
    assert prediction is not None
    assert prediction.label == ">50K" and prediction.probabilities == {"<=50K": 0.2, ">50K": 0.8}
    assert prediction_of_answer(None, CLASSES) is None


def test_the_page_s_sentence_speaks_the_pages_words() -> None:
    words = Vocabulary(classes={"<=50K": "refused", ">50K": "approved"})
    differs = compare({"scores": [0.3, 0.7]}, {"scores": [0.9, 0.1]}, CLASSES, 1e-6)
    said = sentence(differs, CLASSES, words)
    assert "approved (70% chance) when this decision was logged" in said
    assert "refused (90% chance) today" in said and "today's model" in said
    same = compare({"scores": [0.9, 0.1]}, {"scores": [0.9, 0.1]}, CLASSES, 1e-6)
    assert sentence(same, CLASSES, words).startswith("The model, asked again, still gives")
