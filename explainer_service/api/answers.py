"""What the explanation routes answer: an explanation as JSON with its id and links, its
page, or where to find it while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from explainer_service.api.bodies import ExplanationOut, Pending
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import (
    LinkFor,
    RowLinks,
    as_is,
    drilldown_link,
    links_for,
    render_explanation,
    render_status,
)
from explainer_service.runtime import Runtime
from explainer_service.runtime.editor import editor
from explainer_service.service import Ticket
from explainer_service.settings import Settings
from explainer_service.store import Record, Status, Store
from explainers import Explanation


def json_answer(
    body: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``body`` as JSON, for a route that answers several shapes: its ``response_model``
    then documents them, and the body is built through the model instead."""
    return JSONResponse(body.model_dump(mode="json"), status_code, headers)


def answer(id: str, explanation: Explanation, link: LinkFor = as_is) -> ExplanationOut:
    return ExplanationOut.model_validate(
        {**dict(explanation), "id": id, "links": links_for(id, link)}
    )


def pending(id: str, status: Status, link: LinkFor = as_is) -> Pending:
    return Pending(id=id, status=status, links=links_for(id, link))


def page(
    settings: Settings,
    runtime: Runtime,
    id: str,
    explanation: Any,
    link: LinkFor = as_is,
    *,
    whatif_of: str | None = None,
    rows: RowLinks | None = None,
) -> str:
    """The explanation's page, with its what-if editor; ``whatif_of``: the explanation whose
    editor asked for this one (the page links back); ``rows``: the payload's other rows."""
    model, schema = settings.model, runtime.schema
    vocabulary = words(settings, runtime)
    return render_explanation(
        explanation,
        id,
        model_name=model.name,
        model_version=model.version,
        local_methods=runtime.local_methods,
        immutable=schema.immutable,
        link=link,
        words=vocabulary,
        editor=editor(runtime, id, explanation, link, vocabulary),
        back=link(f"/explanations/{whatif_of}?format=html") if whatif_of else None,
        rows=rows,
    )


#: The most rows of a payload a page links to (the nearest to its own row).
MAX_ROW_LINKS = 20


def row_links(
    runtime: Runtime, method: str, payload: Any, instance: str, link: LinkFor = as_is
) -> RowLinks | None:
    """Which row of ``payload`` a page of ``instance`` explains and the drill-down links to
    the others (up to ``MAX_ROW_LINKS``, nearest first); None for a payload of one row, a
    global method or ``instance=all``. Blocks (decodes the payload)."""
    if payload is None or not instance.isdigit() or method not in runtime.local_methods:
        return None
    count = len(runtime.rows(payload))
    index = int(instance)
    if count < 2 or index >= count:
        return None
    nearest = sorted(range(count), key=lambda j: abs(j - index))[:MAX_ROW_LINKS]
    base = drilldown_link(method, payload)
    links = {j: link(f"{base}&instance={j}") for j in sorted(nearest)}
    return RowLinks(index, count, links)


def words(settings: Settings, runtime: Runtime) -> Vocabulary:
    """How pages name the model's subject, its classes and its features."""
    model = settings.model
    return Vocabulary.of(
        runtime.schema,
        model.class_labels,
        model.subject,
        model.subject_plural,
        settings.features.category_labels,
    )


async def pending_page(
    store: Store, model_name: str, ticket: Ticket, link: LinkFor = as_is
) -> HTMLResponse:
    stored = await asyncio.to_thread(store.get, ticket.id)  # maybe a network away
    record = stored or Record(ticket.id, ticket.method, Status.pending, "", "", None, None)
    html = render_status(record, model_name=model_name, link=link)
    location = links_for(ticket.id, link)["html"]
    return HTMLResponse(html, status_code=202, headers={"Location": location})
