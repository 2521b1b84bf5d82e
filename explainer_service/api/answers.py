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
from explainer_service.render import LinkFor, as_is, links_for, render_explanation, render_status
from explainer_service.runtime import Runtime
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
    settings: Settings, runtime: Runtime, id: str, explanation: Any, link: LinkFor = as_is
) -> str:
    model, schema = settings.model, runtime.schema
    return render_explanation(
        explanation,
        id,
        model_name=model.name,
        model_version=model.version,
        local_methods=runtime.local_methods,
        immutable=schema.immutable,
        link=link,
        words=words(settings, runtime),
    )


def words(settings: Settings, runtime: Runtime) -> Vocabulary:
    """How pages name the model's subject, its classes and its features."""
    model = settings.model
    return Vocabulary.of(runtime.schema, model.class_labels, model.subject, model.subject_plural)


async def pending_page(
    store: Store, model_name: str, ticket: Ticket, link: LinkFor = as_is
) -> HTMLResponse:
    stored = await asyncio.to_thread(store.get, ticket.id)  # maybe a network away
    record = stored or Record(ticket.id, ticket.method, Status.pending, "", "", None, None)
    html = render_status(record, model_name=model_name, link=link)
    location = links_for(ticket.id, link)["html"]
    return HTMLResponse(html, status_code=202, headers={"Location": location})
