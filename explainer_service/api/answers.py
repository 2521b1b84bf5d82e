"""An explanation as a route answers it: JSON with its id and links, or its page."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import HTMLResponse

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import LinkFor, as_is, links_for, render_explanation, render_status
from explainer_service.service import Service, Ticket
from explainer_service.store import Record, Status
from explainers import Explanation


def answer(id: str, explanation: Explanation, link: LinkFor = as_is) -> dict[str, Any]:
    return {**explanation.model_dump(mode="json"), "id": id, "links": links_for(id, link)}


def page(service: Service, id: str, explanation: Any, link: LinkFor = as_is) -> str:
    schema = service.runtime.schema
    return render_explanation(
        explanation,
        id,
        model_name=service.settings.model.name,
        model_version=service.settings.model.version,
        local_methods=service.runtime.local_methods,
        immutable=schema.immutable,
        link=link,
        words=Vocabulary.of(
            schema,
            service.settings.model.class_labels,
            service.settings.model.subject,
            service.settings.model.subject_plural,
        ),
    )


async def pending_page(service: Service, ticket: Ticket, link: LinkFor = as_is) -> HTMLResponse:
    stored = await asyncio.to_thread(service.store.get, ticket.id)  # maybe a network away
    record = stored or Record(ticket.id, ticket.method, Status.pending, "", "", None, None)
    html = render_status(record, model_name=service.settings.model.name, link=link)
    location = links_for(ticket.id, link)["html"]
    return HTMLResponse(html, status_code=202, headers={"Location": location})
