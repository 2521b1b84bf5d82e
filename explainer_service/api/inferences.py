"""Logged inferences, by id: the list, the record of one (JSON or its page), and its
explanations (``POST`` JSON like ``POST /explain``; ``GET`` the page a Kibana link opens,
with no personal data in the URL).

Ids may hold ``/`` (the rows of one event are ``KEY/0``, ``KEY/1``, ...): the routes read
them with the ``path`` converter, the ``/explain`` routes first, and links carry them
percent-encoded (``/`` as ``%2F``), so a browser never normalises them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from explainer_service.api.answers import json_answer, words
from explainer_service.api.bodies import HTML, answers, error_responses
from explainer_service.api.deps import (
    LinkDep,
    RuntimeDep,
    ServiceDep,
    SettingsDep,
    StoreDep,
    method_params,
)
from explainer_service.api.inference_bodies import (
    AgreementOut,
    ExplainIn,
    InferenceExplanationOut,
    InferenceOut,
    InferencePending,
    InferenceSummary,
    LinkedExplanation,
)
from explainer_service.errors import ErrorBody, PayloadError
from explainer_service.inferences.agreement import Agreement
from explainer_service.inferences.explained import Started, explain
from explainer_service.inferences.pages import explanation_page, named, read_record, record_page
from explainer_service.render import LinkFor, links_for
from explainer_service.render.inference import (
    explain_path,
    inference_path,
    record_links,
    render_pending,
)
from explainer_service.render.negotiation import wants_html
from explainer_service.store import Record, Status
from explainers import Explanation

router = APIRouter(tags=["inferences"])


class _AnyId(Convertor[str]):
    """An inference id as logged: any characters, ``/`` (``KEY/k``) and line breaks
    included (Starlette's ``path`` stops at a line break, and a path it does not match would
    meet the sink's POST route and answer 405, not 404)."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("inference_id", _AnyId())

Method = Annotated[str, Query(description="anchors, shap, counterfactual, ...")]


def agreement_out(agreement: Agreement) -> AgreementOut:
    return AgreementOut(
        agrees=agreement.agrees,
        outcome=agreement.outcome,
        message=agreement.note,
        logged=agreement.logged,
        live=agreement.live,
        difference=agreement.difference,
    )


# --- the list -------------------------------------------------------------------------


@router.get(
    "/inferences",
    response_model=list[InferenceSummary],
    summary="Logged inferences, the newest first",
    responses=error_responses(),
)
async def list_inferences(
    response: Response,
    store: StoreDep,
    runtime: RuntimeDep,
    link: LinkDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        str | None, Query(max_length=1024, description="the id of the last one of a page")
    ] = None,
    label: Annotated[
        str | None, Query(max_length=1024, description="only those predicted this class")
    ] = None,
) -> list[InferenceSummary]:
    """A page of logged inferences; the next page (``before`` = the last id of this one)
    is in the ``Link`` header (``rel="next"``) when there may be more."""
    cursor: tuple[str, str] | None = None
    if before is not None:
        last = await asyncio.to_thread(store.inference, before)
        if last is None:
            raise PayloadError(f"before: no logged inference with id {before!r}", field="before")
        cursor = (last.logged_at, last.id)
    found = await asyncio.to_thread(
        store.inferences,
        limit,
        before=cursor[0] if cursor else None,
        after_id=cursor[1] if cursor else None,
        label=label,
    )
    if len(found) == limit:
        query = {"limit": str(limit), "before": found[-1].id}
        if label is not None:
            query["label"] = label
        # not through ``link``: a signed link would open a page of the log without a token
        response.headers["Link"] = f'</inferences?{urlencode(query)}>; rel="next"'
    return [
        InferenceSummary(
            id=i.id,
            model=i.model,
            endpoint=i.endpoint,
            source=i.source,
            logged_at=i.logged_at,
            requested_at=i.requested_at,
            answered_at=i.answered_at,
            label=i.label,
            score=i.score,
            complete=i.complete,
            instance=named(runtime.schema.names, i.instance),
            links=record_links(i.id, link),
        )
        for i in found
    ]


# --- explanations by id (before the record's route: its path converter takes "/explain") --


@router.post(
    "/inferences/{id:inference_id}/explain",
    response_model=InferenceExplanationOut,
    summary="Explain a logged inference by its id",
    responses={
        **error_responses(html=True),
        200: {"description": "the explanation, or its page", "content": HTML},
        **answers(202, InferencePending, "mode=async: accepted, not done yet"),
        409: {"model": ErrorBody, "description": "only the answer was logged, or the model "
              "changed and inference_log.on_model_changed is refuse"},
    },
)  # fmt: skip
async def post_explain_inference(
    request: Request,
    id: str,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    link: LinkDep,
    method: Method = "anchors",
    mode: Annotated[Literal["sync", "async"], Query()] = "sync",
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
    body: Annotated[ExplainIn | None, Body()] = None,
) -> Response:
    """Explains the logged row as ``POST /explain`` explains a payload (the same
    parameters give the same explanation, from the store when it was made before), after
    asking the model whether it still gives the logged answer (``agreement``). Method
    parameters may be query parameters or ``{"parameters": {...}}``."""
    request.state.html = wants_html(request, format)
    params = {**(body.parameters if body else {}), **method_params(request)}
    started = await asyncio.to_thread(explain, service, id, method, params)
    ticket = started.ticket
    if mode == "async":
        done = ticket.record is not None
        accepted = InferencePending(
            id=ticket.id,
            status=Status.done if done else Status.pending,
            links=links_for(ticket.id, link),
            inference_id=id,
            agreement=agreement_out(started.agreement),
        )
        return json_answer(accepted, 202, {"Location": accepted.links["json"]})
    explanation = await service.result(ticket)
    assert explanation is not None
    if request.state.html:
        return HTMLResponse(
            explanation_page(runtime, started, explanation, words(settings, runtime), link)
        )
    return json_answer(by_id_answer(started, explanation, link))


@router.get(
    "/inferences/{id:inference_id}/explain",
    response_model=InferenceExplanationOut,
    summary="Drill-down link by inference id: the explanation's page",
    responses={
        **error_responses(html=True),
        200: {"description": "the explanation's page, or its JSON", "content": HTML},
        **answers(202, InferencePending, "not done yet: a page that refreshes itself", html=True),
    },
)
async def get_explain_inference(
    request: Request,
    id: str,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    link: LinkDep,
    method: Method = "anchors",
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
) -> Response:
    """The page (``format=json``: JSON). The link holds the id alone, no feature value;
    when links are signed (``auth.link_secret``), a signed one opens without a token.
    When the explanation takes longer than ``service.drilldown_wait_s``, a page that
    refreshes itself (to this link) until it is done."""
    request.state.html = wants_html(request, format, default=True)
    started = await asyncio.to_thread(explain, service, id, method, method_params(request))
    ticket = started.ticket
    explanation = await service.result(ticket, timeout=settings.service.drilldown_wait_s)
    if explanation is None:
        # this link again, parameters and all (the signature's were taken out already)
        here = link(f"{inference_path(id)}/explain?{urlencode(request.query_params.multi_items())}")
        if request.state.html:
            stored = await asyncio.to_thread(store.get, ticket.id)
            record = stored or Record(ticket.id, method, Status.pending, "", "", None, None)
            json_link = links_for(ticket.id, link)["json"]
            html = render_pending(record, here, json_link, model_name=settings.model.name)
            return HTMLResponse(html, 202, {"Location": here})
        running = InferencePending(
            id=ticket.id,
            status=Status.running,
            links=links_for(ticket.id, link),
            inference_id=id,
            agreement=agreement_out(started.agreement),
        )
        return json_answer(running, 202, {"Location": running.links["json"]})
    if request.state.html:
        return HTMLResponse(
            explanation_page(runtime, started, explanation, words(settings, runtime), link)
        )
    return json_answer(by_id_answer(started, explanation, link))


def by_id_answer(
    started: Started, explanation: Explanation, link: LinkFor
) -> InferenceExplanationOut:
    id = started.ticket.id
    return InferenceExplanationOut.model_validate(
        {
            **dict(explanation),
            "id": id,
            "links": links_for(id, link),
            "inference_id": started.inference.id,
            "agreement": agreement_out(started.agreement),
        }
    )


# --- the record of one inference ------------------------------------------------------


@router.get(
    "/inferences/{id:inference_id}",
    response_model=InferenceOut,
    summary="A logged inference and every explanation made of it",
    responses={
        **error_responses(html=True),
        200: {"description": "the record, or its page", "content": HTML},
    },
)
async def get_inference(
    request: Request,
    id: str,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    link: LinkDep,
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
) -> Response:
    """What was logged (the row by feature, the model's answer, times, model, endpoint,
    component, protocol, allowed metadata) and the explanations made of it (the latest
    ``pages.MAX_LISTED``), with whether the model, asked again then, still agreed. Asks the
    model nothing."""
    request.state.html = wants_html(request, format)
    record = await asyncio.to_thread(read_record, service, id)
    inference, records = record.inference, record.records
    explain_links = {m: link(explain_path(id, m)) for m in runtime.local_methods}
    if request.state.html:
        return HTMLResponse(
            record_page(runtime, record, explain_links, words(settings, runtime), link)
        )
    body = InferenceOut(
        id=inference.id,
        event_id=inference.event_id,
        row_index=inference.row_index,
        row_count=inference.row_count,
        source=inference.source,
        model=inference.model,
        endpoint=inference.endpoint,
        component=inference.component,
        namespace=inference.namespace,
        protocol=inference.protocol,
        requested_at=inference.requested_at,
        answered_at=inference.answered_at,
        logged_at=inference.logged_at,
        updated_at=inference.updated_at,
        instance=named(runtime.schema.names, inference.instance),
        answer=inference.answer,
        label=inference.label,
        score=inference.score,
        metadata=inference.metadata,
        explanations=[
            LinkedExplanation(
                id=e.explanation_id,
                method=e.method,
                created_at=e.created_at,
                status=records[e.explanation_id].status if e.explanation_id in records else None,
                agrees=e.agrees,
                live=e.live,
                links=links_for(e.explanation_id, link),
            )
            for e in record.linked
        ],
        links=record_links(id, link),
        explain=explain_links if inference.instance is not None else {},
    )
    return json_answer(body)
