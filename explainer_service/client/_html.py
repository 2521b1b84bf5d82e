"""Notebook HTML of explanations: the pages' sentence and figure (``render.summary``,
``render.figures``, ``render.views``), with plotly.js inlined or from the service, never
from a CDN. Every text is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Literal

from explainer_service.presentation.colours import PALETTE

if TYPE_CHECKING:
    from explainer_service.presentation.vocabulary import Vocabulary
    from explainers.explanation import Explanation

#: ``inline``: plotly.js inside the first output of the kernel (about 4.6 MB, once per
#: notebook: the outputs of a notebook share one page, as plotly's own notebook mode
#: assumes), which works wherever the notebook is opened; ``service``: from the service's
#: ``/static/plotly.min.js`` (small outputs; the browser must reach the service).
PlotlyJs = Literal["inline", "service"]

#: Whether this process has put plotly.js into an output yet (``inline``).
SENT = {"plotly.js": False}

_STYLE = (
    "<style>.xs-card{font-family:system-ui,sans-serif;max-width:60em}"
    ".xs-card h3{margin:.2em 0}.xs-card .xs-muted{color:#555;font-size:90%}"
    ".xs-grid{display:flex;flex-wrap:wrap;gap:1em}.xs-grid>.xs-card{flex:1 1 28em}"
    f".xs-error{{color:{PALETTE['towards']}}}</style>"
)


def send_plotly_again() -> None:
    """The next inline output carries plotly.js again: after the notebook's outputs were
    cleared, or to save an output as a page of its own."""
    SENT["plotly.js"] = False


def _plotly(include: PlotlyJs, base_url: str) -> bool | str:
    if include == "service":
        return f"{base_url.rstrip('/')}/static/plotly.min.js"
    if SENT["plotly.js"]:
        return False
    SENT["plotly.js"] = True
    return True


def card(
    explanation: Explanation,
    words: Vocabulary,
    *,
    url: str | None,
    plotlyjs: PlotlyJs,
    base_url: str,
) -> str:
    """One explanation: heading, sentence, prediction and fidelity, figure, a link to its
    page. Inlined, plotly.js comes with the first figure this process shows."""
    from explainer_service.presentation.figures import figure_for
    from explainer_service.presentation.summary import summary
    from explainer_service.presentation.text import is_text
    from explainer_service.presentation.views import coverage_warning, fidelity_text, heading
    from explainer_service.presentation.views import prediction_of as prediction_text

    if is_text(explanation):
        return _text_card(explanation, words, url)
    parts = [f'<div class="xs-card" data-method="{escape(explanation.method)}">']
    parts.append(f"<h3>{escape(heading(explanation, words))} ({escape(explanation.method)})</h3>")
    sentence = summary(explanation, words)
    if sentence:
        parts.append(f'<p class="xs-sentence">{escape(sentence)}</p>')
    warning = coverage_warning(explanation, words)
    if warning:
        parts.append(f'<p class="xs-error">{escape(warning)}</p>')
    facts = [f"prediction: {prediction_text(explanation.prediction, words)}"]
    facts.append(f"fidelity: {fidelity_text(explanation)}")
    cost = explanation.cost
    facts.append(f"cost: {cost.model_calls:,} model calls, {cost.rows:,} rows")
    parts.append(f'<p class="xs-muted">{escape(" · ".join(facts))}</p>')
    figure = figure_for(explanation, words)
    if figure is not None:
        parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=_plotly(plotlyjs, base_url),
                config={"displaylogo": False, "responsive": True},
            )
        )
    if url:
        parts.append(f'<p class="xs-muted"><a href="{escape(url)}" target="_blank">page</a></p>')
    parts.append("</div>")
    return "".join(parts)


def _text_card(explanation: Explanation, words: Vocabulary, url: str | None) -> str:
    """A text model's explanation: the text coloured token by token (no figure)."""
    from explainer_service.presentation.text import (
        anchor_sentence,
        corpus_sentence,
        text_fidelity,
        text_html,
    )
    from explainer_service.presentation.views import heading
    from explainer_service.presentation.views import prediction_of as prediction_text

    parts = [f'<div class="xs-card" data-method="{escape(explanation.method)}">']
    parts.append(f"<h3>{escape(heading(explanation, words))} ({escape(explanation.method)})</h3>")
    sentence = anchor_sentence(explanation, words)
    if sentence:
        parts.append(f'<p class="xs-sentence">{escape(sentence)}</p>')
    corpus = corpus_sentence(explanation, words)
    if corpus:
        parts.append(f'<p class="xs-sentence">{escape(corpus)}</p>')
    facts = [
        f"prediction: {prediction_text(explanation.prediction, words)}",
        f"fidelity: {text_fidelity(explanation)}",
        f"cost: {explanation.cost.model_calls} model calls, {explanation.cost.rows} rows",
    ]
    parts.append(f'<p class="xs-muted">{escape(" · ".join(facts))}</p>')
    parts.append(text_html(explanation))
    if url:
        parts.append(f'<p class="xs-muted"><a href="{escape(url)}" target="_blank">page</a></p>')
    parts.append("</div>")
    return "".join(parts)


def error_card(method: str, error: BaseException) -> str:
    return (
        f'<div class="xs-card" data-method="{escape(method)}"><h3>{escape(method)}</h3>'
        f'<p class="xs-error">{escape(str(error))}</p></div>'
    )


def grid(cards: Sequence[str]) -> str:
    return f'{_STYLE}<div class="xs-grid">{"".join(cards)}</div>'


def single(card_html: str) -> str:
    return _STYLE + card_html
