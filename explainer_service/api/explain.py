"""``POST /explain`` with the model's own payload, and ``GET /explain`` drill-down links."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from explainer_service.api.answers import answer, page, pending_page
from explainer_service.api.bodies import (
    HTML,
    AlibiExplanation,
    ExplanationList,
    ExplanationOut,
    Pending,
    PendingList,
    answers,
    error_responses,
)
from explainer_service.api.deps import (
    AlibiShape,
    DryRun,
    get_alibi_shape,
    get_link,
    get_service,
    method_params,
    parse_json,
)
from explainer_service.api.dry_run import DryRunOut, answer_dry_run
from explainer_service.errors import PayloadError
from explainer_service.render import (
    LinkFor,
    links_for,
)
from explainer_service.render.negotiation import wants_html
from explainer_service.service import Service

router = APIRouter(tags=["explain"])

Method = Annotated[str, Query(description="anchors, shap, counterfactual, importance, ...")]
Instance = Annotated[str, Query(pattern=r"^(\d+|all)$", description="row index, or all")]
Format = Annotated[
    Literal["json", "html", "alibi"] | None,
    Query(description="json: this service's schema; alibi: alibi's {meta, data} shape"),
]


def _envelope(body: Any) -> tuple[Any, dict[str, Any], str | None, bool]:
    """``{"payload", "parameters", "instance", "dry_run"}`` around a payload, or the payload
    itself."""
    if (
        isinstance(body, dict)
        and "payload" in body
        and set(body) <= {"payload", "parameters", "instance", "dry_run"}
    ):
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise PayloadError("'parameters' must be an object", field="parameters")
        dry = body.get("dry_run", False)
        if not isinstance(dry, bool):
            raise PayloadError(f"'dry_run' must be true or false, not {dry!r}", field="dry_run")
        instance = body.get("instance")
        if instance is None:
            return body["payload"], parameters, None, dry
        is_index = isinstance(instance, int) and not isinstance(instance, bool) and instance >= 0
        if not (is_index or instance == "all"):
            raise PayloadError(
                f"'instance' must be a row index (0, 1, ...) or \"all\", not {instance!r}",
                field="instance",
            )
        return body["payload"], parameters, str(instance), dry
    return body, {}, None, False


@router.post(
    "/explain",
    response_model=ExplanationOut | ExplanationList | AlibiExplanation | DryRunOut,
    summary="Explain an inference payload",
    responses={
        **error_responses(html=True),
        200: {
            "description": "the explanation (a list for instance=all), or its page",
            "content": HTML,
        },
        **answers(202, Pending | PendingList, "mode=async: accepted, not done yet"),
    },
)
async def post_explain(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    link: Annotated[LinkFor, Depends(get_link)],
    alibi_shape: Annotated[AlibiShape, Depends(get_alibi_shape)],
    method: Method = "anchors",
    instance: Instance = "0",
    mode: Annotated[Literal["sync", "async"], Query()] = "sync",
    format: Format = None,
    dry_run: DryRun = False,
) -> Response:
    """The body is the JSON that was sent to the model (or ``{"instances": [records]}``, or
    ``{"payload": ..., "parameters": {...}, "instance": k, "dry_run": true}``). Method
    parameters may also be query parameters. ``mode=async`` answers 202 at once with the id;
    ``dry_run=true`` answers the estimated cost (``DryRunOut``) without calling the model."""
    request.state.html = wants_html(request, format)
    raw = await request.body()
    # reading and decoding up to max_body_bytes of JSON takes a while: not on the event loop
    depth = service.settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, raw, "the body", depth) if raw.strip() else None
    payload, body_params, body_instance, body_dry_run = _envelope(body)
    params = {**body_params, **method_params(request)}
    if dry_run or body_dry_run:
        request.state.html = False
        planned = await asyncio.to_thread(
            answer_dry_run, service.runtime, method, payload, body_instance or instance, params
        )
        return JSONResponse(planned.model_dump(mode="json"))
    tickets = await asyncio.to_thread(
        service.tickets, method, payload, body_instance or instance, params
    )
    if mode == "async":
        pending = [
            {
                "id": t.id,
                "status": "done" if t.record else "pending",
                "links": links_for(t.id, link),
            }
            for t in tickets
        ]
        headers = {"Location": links_for(tickets[0].id, link)["json"]}
        return JSONResponse(
            pending[0] if len(pending) == 1 else {"explanations": pending}, 202, headers
        )
    explanations = [await service.result(t) for t in tickets]
    if request.state.html:
        return HTMLResponse(page(service, tickets[0].id, explanations[0], link))
    shape = answer if format != "alibi" else alibi_shape
    answers = [shape(t.id, e, link) for t, e in zip(tickets, explanations, strict=True) if e]
    return JSONResponse(answers[0] if len(answers) == 1 else {"explanations": answers})


@router.get(
    "/explain",
    response_model=ExplanationOut | AlibiExplanation | DryRunOut,
    summary="Drill-down link: explain a payload carried in the URL",
    responses={
        **error_responses(html=True),
        200: {"description": "the explanation's page, or its JSON", "content": HTML},
        **answers(202, Pending, "not done yet: a page that refreshes itself", html=True),
    },
)
async def get_explain(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    link: Annotated[LinkFor, Depends(get_link)],
    alibi_shape: Annotated[AlibiShape, Depends(get_alibi_shape)],
    method: Method = "anchors",
    payload: Annotated[str | None, Query(description="URL-encoded inference payload")] = None,
    instance: Instance = "0",
    format: Format = None,
    dry_run: DryRun = False,
) -> Response:
    """Answers the HTML page (``format=json`` for JSON). When the explanation takes longer
    than ``service.drilldown_wait_s``, a page that refreshes itself until it is done.
    ``dry_run=true`` answers the estimated cost as JSON without calling the model."""
    request.state.html = wants_html(request, format, default=True) and not dry_run
    body = (
        await asyncio.to_thread(
            parse_json,
            payload or "",
            "the payload parameter",
            service.settings.service.max_json_depth,
        )
        if payload or method in service.runtime.local_methods
        else None
    )
    if dry_run:
        planned = await asyncio.to_thread(
            answer_dry_run, service.runtime, method, body, instance, method_params(request)
        )
        return JSONResponse(planned.model_dump(mode="json"))
    tickets = await asyncio.to_thread(
        service.tickets, method, body, instance, method_params(request)
    )
    ticket = tickets[0]
    explanation = await service.result(ticket, timeout=service.settings.service.drilldown_wait_s)
    if explanation is None:
        links = links_for(ticket.id, link)
        if request.state.html:
            return await pending_page(service, ticket, link)
        return JSONResponse(
            {"id": ticket.id, "status": "running", "links": links}, 202, {"Location": links["json"]}
        )
    if request.state.html:
        return HTMLResponse(page(service, ticket.id, explanation, link))
    if format == "alibi":
        return JSONResponse(alibi_shape(ticket.id, explanation, link))
    return JSONResponse(answer(ticket.id, explanation, link))
