"""plotly figures of an Explanation, built in Python and embedded in the page as JSON.

Colours come from ``colours``: towards / away from the predicted class, or neutral; every
label is in the page's ``Vocabulary`` and every number printed through ``formats``."""

from __future__ import annotations

import plotly.graph_objects as go

from explainer_service.presentation.colours import AWAY, NEUTRAL, TOWARDS
from explainer_service.presentation.formats import decimals_for, number, percent, signed
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import Explanation
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    CounterfactualResult,
    ImportanceResult,
    ShapFidelity,
    ShapResult,
)


def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        template="plotly_white",
        showlegend=False,
    )
    figure.update_yaxes(automargin=True)
    return figure


def anchors_figure(result: AnchorResult, fidelity: AnchorFidelity) -> go.Figure:
    """Precision (the share that keeps the prediction: towards) and coverage (neutral)."""
    figure = go.Figure(
        go.Bar(
            x=[fidelity.precision, result.coverage],
            y=["precision", "coverage"],
            orientation="h",
            marker_color=[TOWARDS, NEUTRAL],
            text=[percent(fidelity.precision), percent(result.coverage)],
            textposition="outside",
            cliponaxis=False,  # a narrow figure (the client's compare grid) keeps "97%"
            hoverinfo="y+text",
        )
    )
    figure.add_vline(
        x=fidelity.threshold,
        line_dash="dash",
        annotation_text=f"threshold {percent(fidelity.threshold)}",
        annotation_position="top",
    )
    figure.update_xaxes(range=[0, 1.15], tickformat=".0%")
    return _layout(figure, "Precision and coverage of the rule", 260)


def shap_figure(
    result: ShapResult, model_output: float, predicted: str | None, words: Vocabulary
) -> go.Figure:
    """A waterfall from the base value (the average answer) to this instance's answer,
    largest contributions first; the axis spans the path, not zero to it."""
    ordered = sorted(result.contributions, key=lambda c: -abs(c.shap))
    decimals = decimals_for([result.base_value, model_output, *(c.shap for c in ordered)])
    up = TOWARDS if predicted is None or result.output == predicted else AWAY
    down = AWAY if up == TOWARDS else TOWARDS
    labels = [f"{words.feature(c.feature)} = {words.value(c.feature, c.value)}" for c in ordered]
    who = words.subject
    figure = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=[*["relative"] * len(ordered), "total"],
            y=[*labels, f"this {who}"],
            x=[*(c.shap for c in ordered), 0.0],
            base=result.base_value,
            increasing={"marker": {"color": up}},
            decreasing={"marker": {"color": down}},
            totals={"marker": {"color": NEUTRAL}},
            connector={"line": {"color": NEUTRAL, "width": 1}},
            text=[*(signed(c.shap, decimals) for c in ordered), number(model_output, decimals)],
            textposition="outside",
            hoverinfo="y+text",
        )
    )
    path = [result.base_value]
    for c in ordered:
        path.append(path[-1] + c.shap)
    low, high = min(*path, model_output), max(*path, model_output)
    pad = 0.2 * (high - low) or 0.05 * (abs(high) or 1.0)
    figure.update_xaxes(range=[low - pad, high + pad])
    figure.update_yaxes(autorange="reversed")
    figure.add_vline(
        x=result.base_value,
        line_dash="dot",
        annotation_text=f"average {who} {number(result.base_value, decimals)}",
        annotation_position="top",
    )
    scale = "" if result.link == "identity" else f" ({result.link} scale)"
    title = (
        f"From the average {who} to this one{scale}"
        if result.output == "value"
        else f"Chance of {words.cls(result.output)}: from the average {who} to this one{scale}"
    )
    return _layout(figure, title, 160 + 28 * len(labels))


def counterfactual_figure(
    explanation: Explanation, result: CounterfactualResult, words: Vocabulary
) -> go.Figure:
    """The score of the desired class: the instance (neutral), each counterfactual (away
    from the predicted class). Probabilities are shown as percentages, with the decision
    line at 50% for two classes (above it, the model predicts the desired class)."""

    def score(prediction: object) -> float:
        p = getattr(prediction, "probabilities", None)
        if p and result.desired in p:
            return float(p[result.desired])
        return float(getattr(prediction, "value", None) or 0.0)

    names = [f"this {words.subject}"]
    names += [f"counterfactual {i + 1}" for i in range(len(result.counterfactuals))]
    values = [score(explanation.prediction), *[score(c.prediction) for c in result.counterfactuals]]
    probabilities = explanation.prediction.probabilities if explanation.prediction else None
    chances = bool(probabilities) and result.desired in (probabilities or {})
    decimals = decimals_for(values)
    figure = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker_color=[NEUTRAL, *[AWAY] * len(result.counterfactuals)],
            text=[percent(v) if chances else number(v, decimals) for v in values],
            textposition="outside",
            cliponaxis=False,
            hoverinfo="x+text",
        )
    )
    title = f"Score of {words.cls(result.desired)}"
    if chances:
        title = f"Chance of {words.cls(result.desired)}"
        figure.update_yaxes(range=[0, 1.1], tickformat=".0%")
        if len(probabilities or {}) == 2:
            figure.add_hline(
                y=0.5,
                line_dash="dash",
                annotation_text=f"decision line: above it, {words.cls(result.desired)}",
                annotation_position="top left",
            )
    return _layout(figure, title, 300)


def importance_figure(result: ImportanceResult, words: Vocabulary) -> go.Figure:
    """Score drops with their spread, neutral: importance has no direction."""
    ordered = list(reversed(result.features))
    decimals = decimals_for([result.baseline_score, *(f.mean for f in ordered)])
    figure = go.Figure(
        go.Bar(
            x=[f.mean for f in ordered],
            y=[words.feature(f.feature) for f in ordered],
            orientation="h",
            error_x={"type": "data", "array": [f.std for f in ordered]},
            marker_color=NEUTRAL,
            hovertext=[f"{number(f.mean, decimals)} ± {number(f.std, decimals)}" for f in ordered],
            hoverinfo="y+text",
        )
    )
    return _layout(
        figure, f"Drop of {result.scoring} when a feature is shuffled", 120 + 26 * len(ordered)
    )


def shap_output(result: ShapResult, fidelity: object) -> float:
    """f(x) in link space: the live model's, else base value plus contributions."""
    if isinstance(fidelity, ShapFidelity):
        return fidelity.model_output
    return result.base_value + sum(c.shap for c in result.contributions)


def figure_for(explanation: Explanation, words: Vocabulary | None = None) -> go.Figure | None:
    words = words or Vocabulary()
    result, fidelity = explanation.result, explanation.fidelity
    if isinstance(result, AnchorResult) and isinstance(fidelity, AnchorFidelity):
        return anchors_figure(result, fidelity)
    if isinstance(result, ShapResult):
        predicted = explanation.prediction.label if explanation.prediction else None
        return shap_figure(result, shap_output(result, fidelity), predicted, words)
    if isinstance(result, CounterfactualResult):
        return counterfactual_figure(explanation, result, words) if result.found else None
    if isinstance(result, ImportanceResult):
        return importance_figure(result, words)
    return None


def figure_json(explanation: Explanation, words: Vocabulary | None = None) -> str | None:
    """The figure as JSON that is safe inside a <script> element (no "<", ">", "&")."""
    figure = figure_for(explanation, words)
    if figure is None:
        return None
    text = str(figure.to_json())
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
