"""The pages of a comparison with models.candidate: one instance under both versions, and a
window of logged inferences re-scored by the candidate."""

from __future__ import annotations

from explainer_service.comparison import Comparison, WindowComparison
from explainer_service.presentation.pairs import shap_pair_json
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.pages import _env

#: The features the SHAP figure shows (the largest differences; the table has them all).
FIGURE_FEATURES = 8


def render_comparison(
    comparison: Comparison, *, model_name: str, words: Vocabulary | None = None
) -> str:
    words = words or Vocabulary()
    figure = None
    if comparison.shap:
        shown = comparison.shap[:FIGURE_FEATURES]
        figure = shap_pair_json(
            [words.feature(d.feature) for d in shown],
            [d.model for d in shown],
            [d.candidate for d in shown],
            f"Push towards {words.cls(comparison.shap_output)}, by version",
        )
    return _env.get_template("comparison.html.j2").render(
        c=comparison, model_name=model_name, words=words, figure_json=figure
    )


def render_window_comparison(
    window: WindowComparison, *, model_name: str, words: Vocabulary | None = None
) -> str:
    return _env.get_template("compare_window.html.j2").render(
        w=window, model_name=model_name, words=words or Vocabulary()
    )
