"""Pages built from Explanations and store records. Every value is escaped by Jinja2."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from explainer_service.render.figures import figure_json
from explainer_service.store import Record
from explainers import Explanation, Prediction
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    CounterfactualFidelity,
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


def prediction_text(explanation: Explanation) -> str:
    return prediction_of(explanation.prediction)


def prediction_of(p: Prediction | None) -> str:
    """ "<=50K (probability 0.83)", a regression value, or a dash."""
    if p is None:
        return "—"
    if p.value is not None:
        return f"{p.value:.4g}"
    if p.probabilities and p.label in p.probabilities:
        return f"{p.label} (probability {p.probabilities[p.label]:.2f})"
    return str(p.label)


def fidelity_text(explanation: Explanation) -> str:
    f = explanation.fidelity
    if isinstance(f, AnchorFidelity):
        met = "meets" if f.threshold_met else "does not meet"
        return (
            f"precision {f.precision:.3f} on {f.samples} fresh samples scored by the model "
            f"({f.confidence:.0%} bounds {f.precision_lower:.3f}-{f.precision_upper:.3f}, "
            f"{f.reference_rows} reference rows where the rule holds); "
            f"{met} the threshold {f.threshold}"
        )
    if isinstance(f, ShapFidelity):
        return f"additivity error {f.additivity_error:.2e}"
    if isinstance(f, CounterfactualFidelity):
        return (
            f"{f.valid} of {f.generated} counterfactuals valid on the model "
            f"(validity {f.validity:.2f}), sparsity {f.sparsity:.2f}, "
            f"proximity {f.proximity:.3f}"
        )
    if isinstance(f, ImportanceFidelity):
        return f"baseline score {f.baseline_score:.4f} on {f.rows} rows"
    return json.dumps(f.model_dump())


def rule_sentence(explanation: Explanation) -> str:
    label = explanation.prediction.label if explanation.prediction else "this"
    rule = explanation.result.rule if isinstance(explanation.result, AnchorResult) else []
    if not rule:
        return f"The model predicts {label} for almost any applicant: no condition is needed."
    readable = [r.replace(" <= ", " ≤ ").replace(" >= ", " ≥ ") for r in rule]
    return f"The model predicts {label} whenever " + " AND ".join(readable)


def render_explanation(
    explanation: Explanation,
    id: str,
    *,
    model_name: str,
    model_version: str | None,
    methods: list[str],
    immutable: list[str],
    link: LinkFor = as_is,
) -> str:
    instance = explanation.instance
    others = {
        m: link(drilldown_link(m, {"instances": [instance]}))
        for m in methods
        if m != explanation.method and instance is not None and m != "importance"
    }
    contributions = []
    if isinstance(explanation.result, ShapResult):
        contributions = sorted(explanation.result.contributions, key=lambda c: -abs(c.shap))
    return _env.get_template("explanation.html.j2").render(
        e=explanation,
        links=links_for(id, link),
        model_name=model_name,
        model_version=model_version,
        prediction_text=prediction_text(explanation),
        fidelity_text=fidelity_text(explanation),
        rule_sentence=rule_sentence(explanation) if explanation.method == "anchors" else "",
        contributions=contributions,
        other_methods=others,
        immutable=immutable,
        figure_json=figure_json(explanation),
        prediction_of=prediction_of,
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


def render_landing(*, recent: list[Record], link: LinkFor = as_is, **context: Any) -> str:
    links = {record.id: links_for(record.id, link) for record in recent}
    return _env.get_template("landing.html.j2").render(recent=recent, links=links, **context)
