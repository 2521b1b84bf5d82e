"""The one sentence at the top of each page, in the user's words (``Vocabulary``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from explainer_service.presentation.figures import shap_output
from explainer_service.presentation.formats import number, percent, value
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import Explanation
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    Condition,
    Contribution,
    CounterfactualResult,
    ImportanceResult,
    ShapResult,
)

__all__ = [
    "anchors_sentence",
    "condition_words",
    "counterfactual_sentence",
    "importance_sentence",
    "join_words",
    "rule_words",
    "shap_sentence",
    "summary",
]

_OPERATORS = {"=": "is", "<=": "≤", ">=": "≥", "<": "<", ">": ">"}


def join_words(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def condition_words(condition: Condition, words: Vocabulary) -> str:
    """ "years of education ≤ 12", "marital status is Married-civ-spouse"."""
    operator = _OPERATORS[condition.operator]
    name = condition.feature
    return f"{words.feature(name)} {operator} {words.value(name, condition.value)}"


_LOWER, _UPPER = {">": "<", ">=": "≤"}, {"<": "<", "<=": "≤"}


def rule_words(conditions: Sequence[Condition], words: Vocabulary) -> list[str]:
    """The conditions in words, a feature's lower and upper bound as one range
    ("42 < hours worked per week ≤ 47"), in the order of their first condition."""
    by_feature: dict[str, list[Condition]] = {}
    for c in conditions:
        by_feature.setdefault(c.feature, []).append(c)
    said = []
    for feature, group in by_feature.items():
        lower = [c for c in group if c.operator in _LOWER]
        upper = [c for c in group if c.operator in _UPPER]
        if len(group) == 2 and len(lower) == 1 and len(upper) == 1:
            low, high = lower[0], upper[0]
            said.append(
                f"{value(low.value)} {_LOWER[low.operator]} {words.feature(feature)} "
                f"{_UPPER[high.operator]} {value(high.value)}"
            )
        else:
            said.extend(condition_words(c, words) for c in group)
    return said


def anchors_sentence(
    predicted: str | None,
    conditions: Sequence[Condition],
    precision: float,
    coverage: float,
    words: Vocabulary,
) -> str:
    """``precision``: share of samples meeting the rule that get ``predicted``;
    ``coverage``: share of the reference rows that meet it."""
    cls, who, whom = words.cls(predicted), words.subject, words.subjects
    if not conditions:
        return (
            f"The model predicts {cls} for this {who} and for {percent(precision)} of all "
            f"{whom}: no condition is needed."
        )
    rule = join_words(rule_words(conditions, words))
    return (
        f"The model predicts {cls} for this {who}; as long as {rule}, it predicts {cls} for "
        f"{percent(precision)} of similar {whom} (the rule describes {percent(coverage)} of "
        f"{whom})."
    )


def _score_words(score: float, result: ShapResult) -> str:
    if result.output == "value":
        return value(score)
    probability = 1 / (1 + math.exp(-score)) if result.link == "logit" else score
    return percent(probability)


#: A contribution is named as a reason only when it is at least this share of all the
#: contributions' absolute total: a push of 0.001 is not why.
REASON_SHARE = 0.05


def reasons(contributions: Sequence[Contribution], sign: int) -> list[Contribution]:
    """The contributions pushing in direction ``sign`` by at least ``REASON_SHARE`` of the
    absolute total, largest first."""
    total = sum(abs(c.shap) for c in contributions)
    pushing = [
        c for c in contributions if sign * c.shap > 0 and abs(c.shap) >= REASON_SHARE * total
    ]
    return sorted(pushing, key=lambda c: -abs(c.shap))


def _pushed(contributions: Sequence[Contribution], sign: int, words: Vocabulary) -> str:
    """ "capital gains and age pushed it up most", or "nothing pushed it up noticeably"."""
    named = [words.feature(c.feature) for c in reasons(contributions, sign)[:2]]
    way = "up" if sign > 0 else "down"
    if not named:
        return f"nothing pushed it {way} noticeably"
    return f"{join_words(named)} pushed it {way} most"


def shap_sentence(result: ShapResult, model_output: float, words: Vocabulary) -> str:
    """``model_output`` and ``result.base_value`` are in ``result.link`` space (log-odds for
    logit); the sentence speaks of chances (classes) or values (regression)."""
    who = words.subject
    score, base = _score_words(model_output, result), _score_words(result.base_value, result)
    if result.output == "value":
        opening = f"The model's answer for this {who} is {score}"
    else:
        # a class in the user's words is an outcome ("being approved"), else a name (">50K")
        named = result.output in words.classes
        outcome = f"being {words.cls(result.output)}" if named else result.output
        opening = f"The model gave this {who} a {score} chance of {outcome}"
    up, down = _pushed(result.contributions, +1, words), _pushed(result.contributions, -1, words)
    return f"{opening}; the average {who} gets {base}; {up}, {down}."


def counterfactual_sentence(result: CounterfactualResult, words: Vocabulary) -> str:
    """The valid counterfactual with the fewest changes, or why there is none."""
    cls, who = words.cls(result.desired), words.subject
    valid = [c for c in result.counterfactuals if c.valid and c.changes]
    if not valid:
        found = f"No change was found that makes the model predict {cls} for this {who}"
        reason = (result.message or "").strip()
        return f"{found}: {reason.rstrip('.')}." if reason else f"{found}."
    best = min(valid, key=lambda c: len(c.changes))
    changes = join_words(
        [
            f"{words.feature(c.feature)} were {words.value(c.feature, c.to_value)} instead of "
            f"{words.value(c.feature, c.from_value)}"
            for c in best.changes
        ]
    )
    return f"The model would predict {cls} for this {who} if {changes}."


def importance_sentence(result: ImportanceResult, words: Vocabulary) -> str:
    """The (up to three) features whose shuffling lowers the score most, and those whose
    drop is within its spread over the iterations."""
    ordered = sorted(result.features, key=lambda f: -f.mean)
    top = [f for f in ordered[:3] if f.mean > 0]
    score = f"{result.scoring} of {number(result.baseline_score)}"
    if not top:
        return f"Shuffling no feature lowers the model's {score}: it relies on none of them."
    names = join_words([words.feature(f.feature) for f in top])
    drops = join_words([number(f.mean) for f in top])
    unclear = [words.feature(f.feature) for f in ordered if f.mean <= f.std]
    each = "shuffling it lowers" if len(top) == 1 else "shuffling each lowers"
    sentence = f"The model relies most on {names}: {each} its {score} by {drops} on average"
    if unclear:
        verb = "makes" if len(unclear) == 1 else "make"
        sentence += f"; {join_words(unclear)} {verb} no clear difference"
    return sentence + "."


def summary(explanation: Explanation, words: Vocabulary) -> str | None:
    """The sentence for ``explanation``, or None for a method without one (plugins)."""
    result, fidelity = explanation.result, explanation.fidelity
    if isinstance(result, AnchorResult):
        predicted = explanation.prediction.label if explanation.prediction else None
        precision = fidelity.precision if isinstance(fidelity, AnchorFidelity) else result.precision
        return anchors_sentence(predicted, result.conditions, precision, result.coverage, words)
    if isinstance(result, ShapResult):
        return shap_sentence(result, shap_output(result, fidelity), words)
    if isinstance(result, CounterfactualResult):
        return counterfactual_sentence(result, words)
    if isinstance(result, ImportanceResult):
        return importance_sentence(result, words)
    return None
