"""plotly figures of an Explanation, built in Python and embedded in the page as JSON."""

from __future__ import annotations

import plotly.graph_objects as go

from explainers import Explanation
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    CounterfactualResult,
    ImportanceResult,
    ShapResult,
)

POSITIVE, NEGATIVE, NEUTRAL = "#c0392b", "#2e6fd8", "#7f8c9d"


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
    figure = go.Figure(
        go.Bar(
            x=[result.precision, result.coverage],
            y=["precision", "coverage"],
            orientation="h",
            marker_color=[POSITIVE if not fidelity.threshold_met else NEGATIVE, NEUTRAL],
            text=[f"{result.precision:.3f}", f"{result.coverage:.3f}"],
            textposition="outside",
        )
    )
    figure.add_vline(
        x=fidelity.threshold,
        line_dash="dash",
        annotation_text=f"threshold {fidelity.threshold}",
        annotation_position="top",
    )
    figure.update_xaxes(range=[0, 1.1])
    return _layout(figure, "Precision and coverage of the rule", 260)


def shap_figure(result: ShapResult, model_output: float) -> go.Figure:
    ordered = sorted(result.contributions, key=lambda c: abs(c.shap))
    labels = ["base value", *[f"{c.feature} = {c.value}" for c in ordered], "prediction"]
    figure = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(ordered), "total"],
            y=labels,
            x=[result.base_value, *[c.shap for c in ordered], model_output],
            base=0,
            increasing={"marker": {"color": POSITIVE}},
            decreasing={"marker": {"color": NEGATIVE}},
            totals={"marker": {"color": NEUTRAL}},
            text=[
                f"{result.base_value:.3f}",
                *[f"{c.shap:+.3f}" for c in ordered],
                f"{model_output:.3f}",
            ],
            textposition="outside",
        )
    )
    return _layout(figure, f"From the base value to P({result.output})", 140 + 28 * len(labels))


def counterfactual_figure(explanation: Explanation, result: CounterfactualResult) -> go.Figure:
    def score(prediction: object) -> float:
        p = getattr(prediction, "probabilities", None)
        if p and result.desired in p:
            return float(p[result.desired])
        return float(getattr(prediction, "value", None) or 0.0)

    names = ["original", *[f"counterfactual {i + 1}" for i in range(len(result.counterfactuals))]]
    values = [score(explanation.prediction), *[score(c.prediction) for c in result.counterfactuals]]
    figure = go.Figure(
        go.Bar(x=names, y=values, marker_color=[NEUTRAL, *[NEGATIVE] * len(result.counterfactuals)])
    )
    return _layout(figure, f"Score of {result.desired}", 300)


def importance_figure(result: ImportanceResult) -> go.Figure:
    ordered = list(reversed(result.features))
    figure = go.Figure(
        go.Bar(
            x=[f.mean for f in ordered],
            y=[f.feature for f in ordered],
            orientation="h",
            error_x={"type": "data", "array": [f.std for f in ordered]},
            marker_color=NEGATIVE,
        )
    )
    return _layout(
        figure, f"Drop of {result.scoring} when a feature is shuffled", 120 + 26 * len(ordered)
    )


def figure_for(explanation: Explanation) -> go.Figure | None:
    result, fidelity = explanation.result, explanation.fidelity
    if isinstance(result, AnchorResult) and isinstance(fidelity, AnchorFidelity):
        return anchors_figure(result, fidelity)
    if isinstance(result, ShapResult):
        return shap_figure(result, getattr(fidelity, "model_output", result.base_value))
    if isinstance(result, CounterfactualResult):
        return counterfactual_figure(explanation, result) if result.found else None
    if isinstance(result, ImportanceResult):
        return importance_figure(result)
    return None


def figure_json(explanation: Explanation) -> str | None:
    """The figure as JSON that is safe inside a <script> element (no "<", ">", "&")."""
    figure = figure_for(explanation)
    if figure is None:
        return None
    text = str(figure.to_json())
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
