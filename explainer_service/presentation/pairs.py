"""The figure of two versions' SHAP values side by side (a comparison's page): one bar per
version and feature, the features in the order given (largest difference first)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from explainer_service.presentation.colours import NEUTRAL, TOWARDS
from explainer_service.presentation.formats import decimals_for, signed


def shap_pair_json(
    labels: Sequence[str], model: Sequence[float], candidate: Sequence[float], title: str
) -> str:
    """Grouped horizontal bars, as JSON that is safe inside a <script> element."""
    decimals = decimals_for([*model, *candidate])
    figure = go.Figure(
        [
            go.Bar(
                name=name,
                orientation="h",
                y=list(labels),
                x=list(values),
                marker={"color": colour},
                text=[signed(v, decimals) for v in values],
                textposition="outside",
            )
            for name, values, colour in (
                ("the model", model, NEUTRAL),
                ("the candidate", candidate, TOWARDS),
            )
        ]
    )
    figure.update_layout(
        title=title,
        barmode="group",
        height=160 + 44 * len(labels),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        template="plotly_white",
        legend={"orientation": "h"},
    )
    figure.update_yaxes(automargin=True, autorange="reversed")
    text = str(figure.to_json())
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
