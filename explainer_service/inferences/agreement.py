"""Whether the model, asked again today, still gives the answer that was logged.

An explanation of a logged inference explains today's model. When the model changed since
(a new version behind the same URL, a canary), today's answer for the logged row may differ
from the logged one; the explanation then says so (``inference_log.on_model_changed:
explain``) or is refused (``refuse``).

Answers are compared in the inference log's form (``Inference.answer``): ``{"scores":
[...]}`` (probabilities, in class order), ``{"label": x}`` or ``{"value": v}``. They agree
when the predicted labels are equal and every probability (or the regression value) is
within ``tolerance`` of the logged one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from explainer_service.presentation.views import prediction_of
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.store.inferences import Inference
from explainers import OutputKind
from explainers.explanation import Prediction
from explainers.wire import native

NOT_LOGGED = "not checked: the model's answer was not logged"


class Predicts(Protocol):
    """What the check needs of ``RemoteModel``."""

    def predict(self, rows: Sequence[Sequence[Any]]) -> np.ndarray: ...


@dataclass(frozen=True)
class Agreement:
    """The outcome of asking the model again for a logged row.

    ``agrees``: None when it was not checked (no answer was logged); ``logged`` and
    ``live``: the answers, as ``Inference.answer``; ``difference``: the largest absolute
    difference of the probabilities (or of the value), when both have them."""

    agrees: bool | None
    logged: dict[str, Any] | None
    live: dict[str, Any] | None
    difference: float | None
    message: str

    @property
    def note(self) -> str:
        """What an explanation made after this check says about it (JSON)."""
        if self.agrees is False:
            return (
                f"{self.message}. This explanation is of today's model, not of the model that "
                "made the logged decision"
            )
        return self.message

    @property
    def outcome(self) -> str:
        """``agrees``, ``differs`` or ``not_checked`` (a metric's label)."""
        if self.agrees is None:
            return "not_checked"
        return "agrees" if self.agrees else "differs"


def answer_of(scores: np.ndarray, output: OutputKind) -> dict[str, Any]:
    """One row of ``RemoteModel.predict``'s answer in the inference log's form."""
    if output is OutputKind.probabilities:
        return {"scores": [float(p) for p in np.asarray(scores, dtype=float).reshape(-1)]}
    if output is OutputKind.regression:
        return {"value": float(scores)}
    return {"label": str(native(scores))}


def label_of(answer: dict[str, Any] | None, class_names: Sequence[str] | None) -> str | None:
    """The class an answer predicts (the most probable, for probabilities: by name when
    the classes are named, else by index); None for a regression or no answer."""
    if not answer:
        return None
    if "label" in answer:
        return str(answer["label"])
    scores = answer.get("scores")
    if not scores:
        return None
    best = int(np.argmax(scores))
    if class_names and best < len(class_names):
        return str(class_names[best])
    return str(best)


def prediction_of_answer(
    answer: dict[str, Any] | None, class_names: Sequence[str] | None
) -> Prediction | None:
    """An answer as the explanations' ``Prediction`` (what pages know how to say)."""
    if not answer:
        return None
    if "value" in answer:
        return Prediction(value=float(answer["value"]))
    label = label_of(answer, class_names)
    scores = answer.get("scores")
    if not scores:
        return Prediction(label=label)
    names = list(class_names) if class_names and len(class_names) == len(scores) else None
    names = names or [str(i) for i in range(len(scores))]
    return Prediction(
        label=label,
        class_index=int(np.argmax(scores)),
        probabilities={name: float(p) for name, p in zip(names, scores, strict=True)},
    )


def describe(answer: dict[str, Any] | None, class_names: Sequence[str] | None) -> str:
    """``'<=50K' (probability 0.800)``, ``'>50K'`` or ``12.5``."""
    if not answer:
        return "nothing"
    if "value" in answer:
        return f"{float(answer['value']):.6g}"
    label = label_of(answer, class_names)
    scores = answer.get("scores")
    if scores:
        return f"{label!r} (probability {max(scores):.3f})"
    return repr(label)


def compare(
    logged: dict[str, Any] | None,
    live: dict[str, Any],
    class_names: Sequence[str] | None,
    tolerance: float,
) -> Agreement:
    """Whether ``live`` gives the ``logged`` answer: the same label, and the probabilities
    (or the value) within ``tolerance`` of each other."""
    if not logged:
        return Agreement(None, logged, live, None, NOT_LOGGED)
    difference = _difference(logged, live)
    same_label = label_of(logged, class_names) == label_of(live, class_names)
    close = difference is None or difference <= tolerance
    comparable = difference is not None or ("value" not in logged and "value" not in live)
    agrees = same_label and close and comparable
    if agrees:
        message = f"the model, asked again, gives the logged answer ({describe(live, class_names)})"
    else:
        message = (
            f"the model now answers differently: {describe(logged, class_names)} when the "
            f"inference was logged, {describe(live, class_names)} today"
        )
        if difference is not None:
            message += f" (the scores differ by up to {difference:.3g}; tolerance {tolerance:g})"
    return Agreement(agrees, logged, live, difference, message)


def _difference(logged: dict[str, Any], live: dict[str, Any]) -> float | None:
    if "value" in logged and "value" in live:
        return abs(float(logged["value"]) - float(live["value"]))
    ours, theirs = logged.get("scores"), live.get("scores")
    if ours and theirs:
        if len(ours) != len(theirs):
            return float("inf")
        return float(np.max(np.abs(np.asarray(ours, float) - np.asarray(theirs, float))))
    return None


def check(
    model: Predicts,
    inference: Inference,
    output: OutputKind,
    class_names: Sequence[str] | None,
    tolerance: float,
) -> Agreement:
    """Ask ``model`` (one call, one row) for the logged row and compare. Blocks (call it in
    a thread); raises what ``RemoteModel.predict`` raises (``ModelError``, ``PayloadError``).
    Without a logged answer the model is not asked."""
    if not inference.answer:
        return Agreement(None, None, None, None, NOT_LOGGED)
    if inference.instance is None:
        raise ValueError(f"inference {inference.id!r} has no logged row")
    scores = model.predict([inference.instance])
    live = answer_of(scores[0], output)
    return compare(inference.answer, live, class_names, tolerance)


def sentence(agreement: Agreement, class_names: Sequence[str] | None, words: Vocabulary) -> str:
    """What a page says about the check, in the pages' words."""
    if agreement.agrees is None:
        return f"Not checked: {NOT_LOGGED.removeprefix('not checked: ')}."
    live = prediction_of(prediction_of_answer(agreement.live, class_names), words)
    if agreement.agrees:
        return f"The model, asked again, still gives the logged answer: {live}."
    then = prediction_of(prediction_of_answer(agreement.logged, class_names), words)
    return (
        f"The model now answers differently: {then} when this decision was logged, {live} "
        "today. This explanation is of today's model, not of the model that made the decision."
    )
