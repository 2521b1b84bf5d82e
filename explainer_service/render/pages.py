"""Pages built from Explanations and store records. Every value is escaped by Jinja2."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from explainer_service.render.colours import PALETTE, pushes_towards
from explainer_service.render.figures import figure_json
from explainer_service.render.formats import decimals_for, number, percent, signed, value
from explainer_service.render.summary import condition_words, summary
from explainer_service.render.vocabulary import Vocabulary
from explainer_service.store import Record
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

_env = Environment(
    loader=PackageLoader("explainer_service", "render/templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(num=number, signed=signed, pct=percent, val=value)
_env.globals["palette"] = PALETTE


#: Turns a path and query of the service into the link printed for it (absolute, signed:
#: ``explainer_service.security.UrlBuilder``); pages and answers print every link through one.
LinkFor = Callable[[str], str]


def as_is(path_and_query: str) -> str:
    return path_and_query


def links_for(id: str, link: LinkFor = as_is) -> dict[str, str]:
    return {"json": link(f"/explanations/{id}"), "html": link(f"/explanations/{id}?format=html")}


def drilldown_link(method: str, payload: Any, base: str = "") -> str:
    """The GET link that explains ``payload`` with ``method`` (what a Kibana link opens)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"{base}/explain?method={quote(method)}&payload={quote(body, safe='')}"


# --- fields issue 15's other streams are adding -------------------------------------------
# Read through ``later`` so pages show explanations made before and after those fields land;
# once the anchors, SHAP and counterfactual changes are all merged, write ``x.name`` for each
# ``later(x, "name")`` and drop the fallbacks marked "until merged".


def later(obj: object, name: str) -> Any:
    """``obj.name``, or None while the field does not exist yet."""
    return getattr(obj, name, None)


#: until merged: the share of reference rows below which a rule is flagged when the anchors
#: fidelity has no ``low_coverage`` of its own
LOW_COVERAGE = 0.01

# -------------------------------------------------------------------------------------------


def prediction_of(p: Prediction | None, words: Vocabulary | None = None) -> str:
    """ "refused (probability 0.79)", a regression value, or a dash."""
    words = words or Vocabulary()
    if p is None:
        return "—"
    if p.value is not None:
        return value(p.value)
    if p.probabilities and p.label in p.probabilities:
        return f"{words.cls(p.label)} (probability {number(p.probabilities[p.label], 2)})"
    return words.cls(p.label)


def heading(explanation: Explanation, words: Vocabulary) -> str:
    p = explanation.prediction
    if explanation.instance is None or p is None:
        return "What the model relies on"
    return f"Why {value(p.value) if p.value is not None else words.cls(p.label)}?"


def fidelity_text(explanation: Explanation) -> str:
    f = explanation.fidelity
    if isinstance(f, AnchorFidelity):
        met = "meets" if f.threshold_met else "does not meet"
        distinct = later(f, "distinct_rows")
        rows = f"{f.reference_rows} reference rows where the rule holds"
        if distinct is not None:
            rows += f", {distinct} distinct rows behind the samples"
        return (
            f"precision {number(f.precision)} on {f.samples} fresh samples scored by the model "
            f"({percent(f.confidence)} bounds {number(f.precision_lower)}-"
            f"{number(f.precision_upper)}, {rows}); {met} the threshold {value(f.threshold)}"
        )
    if isinstance(f, ShapFidelity):
        parts = [f"additivity error {f.additivity_error:.2e}"]
        if later(f, "exact"):
            parts.append("exact Shapley values")
        elif later(f, "max_standard_error") is not None:
            parts.append(f"largest standard error {number(later(f, 'max_standard_error'))}")
        if later(f, "background_rows") is not None:
            parts.append(f"background of {later(f, 'background_rows')} reference rows")
        return ", ".join(parts)
    if isinstance(f, CounterfactualFidelity):
        text = (
            f"{f.valid} of {f.generated} counterfactuals valid on the model "
            f"(validity {number(f.validity, 2)}), sparsity {number(f.sparsity, 2)}, "
            f"proximity {number(f.proximity)}"
        )
        for name in ("dropped_implausible", "dropped_constraints"):
            if later(f, name):
                text += f", {later(f, name)} {name.removeprefix('dropped_')} dropped"
        return text
    if isinstance(f, ImportanceFidelity):
        return f"baseline score {number(f.baseline_score)} on {f.rows} rows"
    return json.dumps(f.model_dump())


def coverage_warning(explanation: Explanation, words: Vocabulary) -> str | None:
    """Says so when the rule describes too few reference rows to say much in general."""
    result, fidelity = explanation.result, explanation.fidelity
    if not isinstance(result, AnchorResult):
        return None
    low, minimum = later(fidelity, "low_coverage"), later(fidelity, "min_coverage")
    if low is None:  # until merged
        low, minimum = result.coverage < LOW_COVERAGE, LOW_COVERAGE
    if not low:
        return None
    who = words.subject
    below = f", less than the {percent(minimum)} asked for" if minimum is not None else ""
    return (
        f"Few {who}s meet this rule: it describes {percent(result.coverage)} of the reference "
        f"{who}s{below}. It holds for {who}s very like this one and says little about others."
    )


def rule_words(explanation: Explanation, words: Vocabulary) -> list[str]:
    result = explanation.result
    return (
        [condition_words(c, words) for c in result.conditions]
        if isinstance(result, AnchorResult)
        else []
    )


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


def shap_rows(explanation: Explanation, words: Vocabulary) -> list[ShapRow]:
    """Contributions by |value|, as printed, coloured towards / away from the prediction."""
    result = explanation.result
    if not isinstance(result, ShapResult):
        return []
    predicted = explanation.prediction.label if explanation.prediction else None
    decimals = decimals_for([result.base_value, *(c.shap for c in result.contributions)])
    rows = []
    for c in sorted(result.contributions, key=lambda c: -abs(c.shap)):
        shown, error = signed(c.shap, decimals), later(c, "standard_error")
        towards = pushes_towards(c.shap, result.output, predicted)
        colour = "neutral" if float(shown) == 0 else "towards" if towards else "away"
        se = None if error is None else number(error, decimals)
        rows.append(ShapRow(words.feature(c.feature), value(c.value), shown, se, colour))
    return rows


def plausibility(explanation: Explanation) -> list[str] | None:
    """Per counterfactual: its distance to the nearest real reference row, "(implausible)"
    when flagged; None when the explanation has no such scores."""
    result = explanation.result
    if not isinstance(result, CounterfactualResult):
        return None
    scores = [(later(c, "nearest_distance"), later(c, "plausible")) for c in result.counterfactuals]
    if all(distance is None for distance, _ in scores):
        return None
    return [
        number(distance) + (" (implausible)" if plausible is False else "")
        for distance, plausible in scores
    ]


def render_explanation(
    explanation: Explanation,
    id: str,
    *,
    model_name: str,
    model_version: str | None,
    methods: list[str],
    immutable: list[str],
    link: LinkFor = as_is,
    words: Vocabulary | None = None,
) -> str:
    words = words or Vocabulary()
    instance = explanation.instance
    others = {
        m: link(drilldown_link(m, {"instances": [instance]}))
        for m in methods
        if m != explanation.method and instance is not None and m != "importance"
    }
    return _env.get_template("explanation.html.j2").render(
        e=explanation,
        words=words,
        links=links_for(id, link),
        model_name=model_name,
        model_version=model_version,
        heading=heading(explanation, words),
        sentence=summary(explanation, words),
        legend=legend(explanation, words),
        prediction_text=prediction_of(explanation.prediction, words),
        fidelity_text=fidelity_text(explanation),
        coverage_warning=coverage_warning(explanation, words),
        conditions=rule_words(explanation, words),
        shap_rows=shap_rows(explanation, words),
        other_methods=others,
        immutable=immutable,
        figure_json=figure_json(explanation, words),
        prediction_of=lambda p: prediction_of(p, words),
        plausibility=plausibility(explanation),
    )


def render_status(
    record: Record, *, model_name: str, refresh_s: int = 2, link: LinkFor = as_is
) -> str:
    return _env.get_template("status.html.j2").render(
        record=record,
        links=links_for(record.id, link),
        model_name=model_name,
        refresh=None if record.status == "failed" else refresh_s,
    )


def render_error(status: int, body: dict[str, Any], *, model_name: str) -> str:
    return _env.get_template("error.html.j2").render(
        status=status, error=body["error"], model_name=model_name
    )


def render_landing(
    *, recent: list[Record], link: LinkFor = as_is, words: Vocabulary | None = None, **context: Any
) -> str:
    links = {record.id: links_for(record.id, link) for record in recent}
    return _env.get_template("landing.html.j2").render(
        recent=recent, links=links, prediction_of=lambda p: prediction_of(p, words), **context
    )
