"""Pages built from Explanations and store records. Every value is escaped by Jinja2."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from explainer_service.presentation.colours import PALETTE
from explainer_service.presentation.figures import figure_json
from explainer_service.presentation.formats import count, number, percent, signed, value
from explainer_service.presentation.summary import summary
from explainer_service.presentation.text import (
    anchor_sentence,
    corpus_sentence,
    inert,
    is_text,
    ranked,
    segments,
)
from explainer_service.presentation.views import (
    anchor_rule,
    counterfactual_values,
    coverage_warning,
    fidelity_text,
    heading,
    legend,
    plausibility,
    prediction_of,
    shap_table,
)
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.store import Record
from explainers import Explanation

_env = Environment(
    loader=PackageLoader("explainer_service", "render/templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(num=number, signed=signed, pct=percent, val=value, thousands=count)
_env.globals["palette"] = PALETTE


#: Turns a path and query of the service into the link printed for it (absolute, signed:
#: ``explainer_service.security.UrlBuilder``); pages and answers print every link through one.
LinkFor = Callable[[str], str]


@dataclass(frozen=True)
class RowLinks:
    """Which row of a payload of several a page explains (``index`` from 0, of ``count``)
    and links to other rows' pages (row index -> link; maybe not every row)."""

    index: int
    count: int
    links: dict[int, str]


def as_is(path_and_query: str) -> str:
    return path_and_query


def links_for(id: str, link: LinkFor = as_is) -> dict[str, str]:
    return {"json": link(f"/explanations/{id}"), "html": link(f"/explanations/{id}?format=html")}


def drilldown_link(method: str, payload: Any, base: str = "") -> str:
    """The GET link that explains ``payload`` with ``method`` (what a Kibana link opens)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"{base}/explain?method={quote(method)}&payload={quote(body, safe='')}"


def render_explanation(
    explanation: Explanation,
    id: str,
    *,
    model_name: str,
    model_version: str | None,
    local_methods: list[str],
    immutable: list[str],
    link: LinkFor = as_is,
    words: Vocabulary | None = None,
    other_methods: Mapping[str, str] | None = None,
    inference: Mapping[str, Any] | None = None,
    editor: Mapping[str, Any] | None = None,
    back: str | None = None,
    rows: RowLinks | None = None,
) -> str:
    """The page of one explanation; it links to its instance explained by each other of
    ``local_methods`` (the service's methods that explain one row), or to
    ``other_methods`` (method -> link) when given. ``inference``: the logged inference it
    explains (``id``, ``href`` of its record, ``agrees``, ``sentence`` about the check).
    ``editor``: the what-if editor's context (``runtime.editor``); ``back``: the link to the
    explanation whose editor asked for this one; ``rows``: the payload's other rows."""
    words = words or Vocabulary()
    instance = explanation.instance
    others = (
        dict(other_methods)
        if other_methods is not None
        else {
            m: link(drilldown_link(m, {"instances": [instance]}))
            for m in local_methods
            if m != explanation.method and instance is not None
        }
    )
    if is_text(explanation):
        return _render_text(explanation, id, model_name, model_version, link, words, others)
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
        conditions=anchor_rule(explanation, words),
        shap=shap_table(explanation, words),
        other_methods=others,
        immutable=immutable,
        figure_json=figure_json(explanation, words),
        prediction_of=lambda p: prediction_of(p, words),
        plausibility=plausibility(explanation),
        inference=inference,
        editor=editor,
        back=back,
        rows=rows,
        counterfactual_values=counterfactual_values(explanation),
    )


def _render_text(
    explanation: Explanation,
    id: str,
    model_name: str,
    model_version: str | None,
    link: LinkFor,
    words: Vocabulary,
    others: dict[str, str],
) -> str:
    """The page of a text model's explanation: the text coloured token by token."""
    return _env.get_template("text.html.j2").render(
        e=explanation,
        words=words,
        links=links_for(id, link),
        model_name=model_name,
        model_version=model_version,
        heading=heading(explanation, words),
        sentence=anchor_sentence(explanation, words),
        corpus=corpus_sentence(explanation, words),
        prediction_text=prediction_of(explanation.prediction, words),
        segments=segments(explanation),
        top=ranked(explanation),
        inert=inert,
        other_methods=others,
    )


def render_status(
    record: Record,
    *,
    model_name: str,
    refresh_s: int = 2,
    link: LinkFor = as_is,
    page: str | None = None,
) -> str:
    """The page of an explanation not done yet; it refreshes itself to ``page`` (its own
    page, by default)."""
    links = links_for(record.id, link)
    if page is not None:
        links["html"] = page
    return _env.get_template("status.html.j2").render(
        record=record,
        links=links,
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
        recent=recent,
        links=links,
        prediction_of=lambda p: prediction_of(p, words),
        words=words or Vocabulary(),
        **context,
    )
