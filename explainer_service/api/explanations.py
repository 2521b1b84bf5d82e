"""Stored explanations: one by id, or the most recent."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from explainer_service.api.answers import answer, json_answer, page
from explainer_service.api.bodies import HTML, ExplanationOut, Summary, error_responses
from explainer_service.api.compare import explained_by
from explainer_service.api.deps import LinkDep, RuntimeDep, ServiceDep, SettingsDep, StoreDep
from explainer_service.render import LinkFor, as_is, links_for, render_status
from explainer_service.render.negotiation import wants_html
from explainer_service.store import Record

router = APIRouter(tags=["explanations"])


def summary(record: Record, link: LinkFor = as_is) -> Summary:
    return Summary(
        id=record.id,
        method=record.method,
        status=record.status,
        created_at=record.created_at,
        updated_at=record.updated_at,
        prediction=record.explanation.prediction if record.explanation else None,
        error=record.error,
        links=links_for(record.id, link),
    )


@router.get(
    "/explanations/{id}",
    response_model=ExplanationOut | Summary,
    summary="A stored explanation, or how far it has got",
    responses={
        **error_responses(html=True),
        200: {"description": "the explanation, or its status until it is done", "content": HTML},
    },
)
async def get_explanation(
    id: str,
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    link: LinkDep,
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
    whatif_of: Annotated[
        str | None,
        Query(
            description="the page links back to this explanation, whose what-if editor "
            "asked for this one",
            pattern=r"^[A-Za-z0-9_-]{1,64}$",
        ),
    ] = None,
) -> Response:
    request.state.html = wants_html(request, format)
    record = await asyncio.to_thread(service.record, id)  # the store may be a network away
    if record.explanation is not None:
        if request.state.html:
            settings, runtime = explained_by(record, service, settings, runtime)
            html = page(settings, runtime, id, record.explanation, link, whatif_of=whatif_of)
            return HTMLResponse(html)
        return json_answer(answer(id, record.explanation, link))
    if request.state.html:
        back = link(f"/explanations/{id}?format=html&whatif_of={whatif_of}") if whatif_of else None
        name = settings.model.name
        return HTMLResponse(render_status(record, model_name=name, link=link, page=back))
    return json_answer(summary(record, link))


@router.get("/explanations", summary="The most recent explanations")
async def list_explanations(
    store: StoreDep, link: LinkDep, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[Summary]:
    return [summary(r, link) for r in await asyncio.to_thread(store.recent, limit)]
