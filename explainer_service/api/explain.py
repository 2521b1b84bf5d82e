"""``POST /explain`` with the model's own payload, and ``GET /explain`` drill-down links."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from explainer_service.api.answers import (
    answer,
    json_answer,
    page,
    pending,
    pending_page,
    row_links,
)
from explainer_service.api.bodies import (
    HTML,
    AlibiExplanation,
    AlibiExplanationList,
    ExplanationList,
    ExplanationOut,
    Pending,
    PendingList,
    answers,
    error_responses,
)
from explainer_service.api.compare import Compare, candidate_of, explain_compared
from explainer_service.api.deps import (
    AlibiShapeDep,
    DryRun,
    LinkDep,
    RuntimeDep,
    ServiceDep,
    SettingsDep,
    StoreDep,
    method_params,
    parse_json,
)
from explainer_service.api.dry_run import DryRunOut, answer_dry_run
from explainer_service.comparison import Comparison
from explainer_service.errors import PayloadError
from explainer_service.render.negotiation import wants_html
from explainer_service.store import Status

router = APIRouter(tags=["explain"])

#: Query parameters of /explain besides ``deps.RESERVED`` that are not the method's.
OWN = ("compare",)

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
    response_model=ExplanationOut
    | ExplanationList
    | AlibiExplanation
    | AlibiExplanationList
    | DryRunOut
    | Comparison,
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
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    link: LinkDep,
    alibi_shape: AlibiShapeDep,
    method: Method = "anchors",
    instance: Instance = "0",
    mode: Annotated[Literal["sync", "async"], Query()] = "sync",
    format: Format = None,
    dry_run: DryRun = False,
    compare: Compare = None,
) -> Response:
    """The body is the JSON that was sent to the model (or ``{"instances": [records]}``, or
    ``{"payload": ..., "parameters": {...}, "instance": k, "dry_run": true}``). Method
    parameters may also be query parameters. ``mode=async`` answers 202 at once with the id;
    ``dry_run=true`` answers the estimated cost (``DryRunOut``) without calling the model;
    ``compare=candidate`` answers the instance under both versions (``Comparison``)."""
    request.state.html = wants_html(request, format)
    raw = await request.body()
    # reading and decoding up to max_body_bytes of JSON takes a while: not on the event loop
    depth = settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, raw, "the body", depth) if raw.strip() else None
    payload, body_params, body_instance, body_dry_run = _envelope(body)
    params = {**body_params, **method_params(request, OWN)}
    if dry_run or body_dry_run:
        request.state.html = False
        planned = await asyncio.to_thread(
            answer_dry_run,
            runtime,
            method,
            payload,
            body_instance or instance,
            params,
            None if compare is None else candidate_of(service),
        )
        return json_answer(planned)
    if compare is not None:
        return await explain_compared(
            service,
            settings,
            runtime,
            link,
            method=method,
            payload=payload,
            instance=body_instance or instance,
            params=params,
            html=request.state.html,
            shape=mode if mode == "async" else format,
        )
    tickets = await asyncio.to_thread(
        service.tickets, method, payload, body_instance or instance, params
    )
    if mode == "async":
        accepted = [
            pending(t.id, Status.done if t.record else Status.pending, link) for t in tickets
        ]
        headers = {"Location": accepted[0].links["json"]}
        one = accepted[0] if len(accepted) == 1 else PendingList(explanations=accepted)
        return json_answer(one, 202, headers)
    explanations = [await service.result(t) for t in tickets]
    if request.state.html:
        where = body_instance or instance
        rows = await asyncio.to_thread(row_links, runtime, method, payload, where, link)
        html = page(settings, runtime, tickets[0].id, explanations[0], link, rows=rows)
        return HTMLResponse(html)
    done = [(t.id, e) for t, e in zip(tickets, explanations, strict=True) if e]
    if format == "alibi":
        shaped = [alibi_shape(id, e, link) for id, e in done]
        return json_answer(
            shaped[0] if len(shaped) == 1 else AlibiExplanationList(explanations=shaped)
        )
    ours = [answer(id, e, link) for id, e in done]
    return json_answer(ours[0] if len(ours) == 1 else ExplanationList(explanations=ours))


@router.get(
    "/explain",
    response_model=ExplanationOut | AlibiExplanation | DryRunOut | Comparison,
    summary="Drill-down link: explain a payload carried in the URL",
    responses={
        **error_responses(html=True),
        200: {"description": "the explanation's page, or its JSON", "content": HTML},
        **answers(202, Pending, "not done yet: a page that refreshes itself", html=True),
    },
)
async def get_explain(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    link: LinkDep,
    alibi_shape: AlibiShapeDep,
    method: Method = "anchors",
    payload: Annotated[str | None, Query(description="URL-encoded inference payload")] = None,
    instance: Instance = "0",
    format: Format = None,
    dry_run: DryRun = False,
    compare: Compare = None,
) -> Response:
    """Answers the HTML page (``format=json`` for JSON). When the explanation takes longer
    than ``service.drilldown_wait_s``, a page that refreshes itself until it is done.
    ``dry_run=true`` answers the estimated cost as JSON without calling the model."""
    request.state.html = wants_html(request, format, default=True) and not dry_run
    depth = settings.service.max_json_depth
    body = (
        await asyncio.to_thread(parse_json, payload or "", "the payload parameter", depth)
        if payload or method in runtime.local_methods
        else None
    )
    if dry_run:
        planned = await asyncio.to_thread(
            answer_dry_run,
            runtime,
            method,
            body,
            instance,
            method_params(request, OWN),
            None if compare is None else candidate_of(service),
        )
        return json_answer(planned)
    if compare is not None:
        return await explain_compared(
            service,
            settings,
            runtime,
            link,
            method=method,
            payload=body,
            instance=instance,
            params=method_params(request, OWN),
            html=request.state.html,
            shape=format,
        )
    tickets = await asyncio.to_thread(
        service.tickets, method, body, instance, method_params(request, OWN)
    )
    ticket = tickets[0]
    explanation = await service.result(ticket, timeout=settings.service.drilldown_wait_s)
    if explanation is None:
        if request.state.html:
            return await pending_page(store, settings.model.name, ticket, link)
        running = pending(ticket.id, Status.running, link)
        return json_answer(running, 202, {"Location": running.links["json"]})
    if request.state.html:
        rows = await asyncio.to_thread(row_links, runtime, method, body, instance, link)
        return HTMLResponse(page(settings, runtime, ticket.id, explanation, link, rows=rows))
    if format == "alibi":
        return json_answer(alibi_shape(ticket.id, explanation, link))
    return json_answer(answer(ticket.id, explanation, link))
