"""The pages of a comparison with models.candidate: one instance under both versions, and a
window of logged inferences re-scored by the candidate."""

from __future__ import annotations

from explainer_service.comparison import Comparison, WindowComparison
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.pages import _env


def render_comparison(
    comparison: Comparison, *, model_name: str, words: Vocabulary | None = None
) -> str:
    return _env.get_template("comparison.html.j2").render(
        c=comparison, model_name=model_name, words=words or Vocabulary()
    )


def render_window_comparison(
    window: WindowComparison, *, model_name: str, words: Vocabulary | None = None
) -> str:
    return _env.get_template("compare_window.html.j2").render(
        w=window, model_name=model_name, words=words or Vocabulary()
    )
