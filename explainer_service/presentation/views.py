"""What an explanation page shows besides its sentence and figure, worked out in Python so
the template only prints: the heading, the fidelity line, the coverage warning, the legend,
the SHAP table's rows and the counterfactuals' plausibility, all in the page's words."""

from __future__ import annotations

import json
from dataclasses import dataclass

from explainer_service.presentation.colours import pushes_towards
from explainer_service.presentation.figures import shap_output
from explainer_service.presentation.formats import (
    count,
    decimals_for,
    number,
    percent,
    signed,
    value,
)
from explainer_service.presentation.summary import rule_words
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import Explanation, Prediction
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    CounterfactualFidelity,
    CounterfactualResult,
    ImportanceFidelity,
    ShapFidelity,
    ShapResult,
)


def prediction_of(p: Prediction | None, words: Vocabulary | None = None) -> str:
    """ "refused (79% chance)": the same percentage the sentence says; a regression value,
    or a dash."""
    words = words or Vocabulary()
    if p is None:
        return "—"
    if p.value is not None:
        return value(p.value)
    if p.probabilities and p.label in p.probabilities:
        return f"{words.cls(p.label)} ({percent(p.probabilities[p.label])} chance)"
    return words.cls(p.label)


def heading(explanation: Explanation, words: Vocabulary) -> str:
    p = explanation.prediction
    if explanation.instance is None or p is None:
        return "What the model relies on"
    return f"Why {value(p.value) if p.value is not None else words.cls(p.label)}?"


def rows_text(n: int, noun: str) -> str:
    return f"{count(n)} {noun}" if n == 1 else f"{count(n)} {noun}s"


def fidelity_text(explanation: Explanation) -> str:
    """The fidelity line of the technical details; its counts are of what the page shows."""
    f = explanation.fidelity
    if isinstance(f, AnchorFidelity):
        met = "meets" if f.threshold_met else "does not meet"
        rows = (
            f"{rows_text(f.reference_rows, 'reference row')} where the rule holds, "
            f"{rows_text(f.distinct_rows, 'distinct row')} behind the samples"
        )
        return (
            f"precision {percent(f.precision)} on {count(f.samples)} fresh samples scored by "
            f"the model ({percent(f.confidence)} bounds {percent(f.precision_lower)} to "
            f"{percent(f.precision_upper)}, {rows}); {met} the threshold {percent(f.threshold)}"
        )
    if isinstance(f, ShapFidelity):
        parts = [f"additivity error {number(f.additivity_error, 6)}"]
        if f.exact:
            parts.append("exact Shapley values")
        elif f.max_standard_error is not None:
            parts.append(f"largest standard error {number(f.max_standard_error)}")
        if f.background_rows is not None:
            parts.append(f"background of {rows_text(f.background_rows, 'reference row')}")
        return ", ".join(parts)
    if isinstance(f, CounterfactualFidelity):
        result = explanation.result
        shown = result.counterfactuals if isinstance(result, CounterfactualResult) else []
        valid = sum(1 for c in shown if c.valid)
        text = (
            f"{valid} of the {len(shown)} counterfactuals shown are valid on the model, "
            f"changing {number(f.sparsity, 2)} features on average (proximity "
            f"{number(f.proximity)})"
        )
        for dropped, why in (
            (f.dropped_implausible, "implausible"),
            (f.dropped_constraints, "breaking a constraint"),
        ):
            if dropped:
                text += f"; {dropped} more found but not shown ({why})"
        text += f"; plausible within {number(f.plausibility_threshold)} of a real row"
        return text
    if isinstance(f, ImportanceFidelity):
        return f"baseline score {number(f.baseline_score)} on {rows_text(f.rows, 'row')}"
    return json.dumps(f.model_dump())


def coverage_warning(explanation: Explanation, words: Vocabulary) -> str | None:
    """Says so when the rule describes too few reference rows to say much in general."""
    result, fidelity = explanation.result, explanation.fidelity
    if not isinstance(result, AnchorResult) or not isinstance(fidelity, AnchorFidelity):
        return None
    if not fidelity.low_coverage:
        return None
    whom = words.subjects
    below = f", less than the {percent(fidelity.min_coverage)} asked for"
    return (
        f"Few {whom} meet this rule: it describes {percent(result.coverage)} of the reference "
        f"{whom}{below}. It holds for {whom} very like this one and says little about others."
    )


def anchor_rule(explanation: Explanation, words: Vocabulary) -> list[str]:
    result = explanation.result
    return rule_words(result.conditions, words) if isinstance(result, AnchorResult) else []


def legend(explanation: Explanation, words: Vocabulary) -> list[tuple[str, str]]:
    """(colour name, meaning) for the colours the page uses; the same words on every page."""
    p = explanation.prediction
    if p is not None and p.label is not None:
        towards, away = (
            f"towards {words.cls(p.label)}, the prediction",
            f"away from {words.cls(p.label)}",
        )
    else:
        towards, away = "up", "down"
    meaning = {"towards": f"pushes {towards}", "away": f"pushes {away}", "neutral": "no direction"}
    used = {
        "anchors": ["towards", "neutral"],
        "shap": ["towards", "away", "neutral"],
        "counterfactual": ["away", "neutral"],
    }.get(explanation.method, ["neutral"])
    return [(name, meaning[name]) for name in used]


@dataclass(frozen=True)
class ShapRow:
    feature: str
    value: str
    shap: str
    standard_error: str | None
    colour: str


@dataclass(frozen=True)
class ShapTable:
    """The contributions as printed, largest first, and the base value and f(x) at the
    same precision (as percentages when they are chances, as in the sentence)."""

    rows: list[ShapRow]
    base: str
    output: str


def shap_table(explanation: Explanation, words: Vocabulary) -> ShapTable | None:
    """Each contribution coloured towards / away from the prediction (neutral when it
    prints as zero)."""
    result = explanation.result
    if not isinstance(result, ShapResult):
        return None
    predicted = explanation.prediction.label if explanation.prediction else None
    output = shap_output(result, explanation.fidelity)
    decimals = decimals_for([result.base_value, output, *(c.shap for c in result.contributions)])
    # exact values have no error worth a column of zeros
    fidelity = explanation.fidelity
    errors = not (isinstance(fidelity, ShapFidelity) and fidelity.exact)
    rows = []
    for c in sorted(result.contributions, key=lambda c: -abs(c.shap)):
        shown, error = signed(c.shap, decimals), c.standard_error if errors else None
        towards = pushes_towards(c.shap, result.output, predicted)
        colour = "neutral" if float(shown) == 0 else "towards" if towards else "away"
        se = None if error is None else number(error, decimals)
        shown_value = words.value(c.feature, c.value)
        rows.append(ShapRow(words.feature(c.feature), shown_value, shown, se, colour))
    if result.output != "value" and result.link == "identity":  # chances, as the sentence says
        return ShapTable(rows, percent(result.base_value), percent(output))
    return ShapTable(rows, number(result.base_value, decimals), number(output, decimals))


def plausibility(explanation: Explanation) -> list[str] | None:
    """Per counterfactual: its distance to the nearest real reference row, "(implausible)"
    when flagged, and the constraints it breaks; None without counterfactuals."""
    result = explanation.result
    if not isinstance(result, CounterfactualResult):
        return None
    if not result.counterfactuals:
        return None
    texts = []
    for c in result.counterfactuals:
        text = number(c.nearest_distance) + ("" if c.plausible else " (implausible)")
        if c.violations:
            text += f"; breaks {', '.join(c.violations)}"
        texts.append(text)
    return texts


def counterfactual_values(explanation: Explanation) -> list[str]:
    """Each counterfactual's values as JSON (what its "apply" button puts in the editor);
    empty for other methods."""
    result = explanation.result
    if not isinstance(result, CounterfactualResult):
        return []
    return [json.dumps(c.values, separators=(",", ":")) for c in result.counterfactuals]
