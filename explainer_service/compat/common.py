"""What the compatibility routes share: one row of a foreign request explained, answered in
alibi's ``{"meta", "data"}`` shape as KServe's and Seldon's alibi explainers answer it
(``format=json``: this service's own schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import Query, Request

from explainer_service.api.answers import answer
from explainer_service.api.deps import (
    get_link,
    method_params,
    parse_json,
)
from explainer_service.api.dry_run import answer_dry_run
from explainer_service.compat.alibi_shape import to_alibi
from explainer_service.errors import CodecError, PayloadError
from explainer_service.model_client.codecs import Codec
from explainer_service.render import LinkFor, links_for
from explainer_service.service import Service
from explainers import Explanation

CompatFormat = Annotated[
    Literal["alibi", "json"],
    Query(description="alibi: alibi's {meta, data} shape; json: this service's own schema"),
]


def default_method(methods: Iterable[str]) -> str:
    """What a compatibility route explains with when the request does not say."""
    methods = list(methods)
    return "anchors" if "anchors" in methods else methods[0]


async def first_row(service: Service, codec: Codec, body: Any) -> dict[str, Any]:
    """The request's first row as records (``{"instances": [{feature: value}]}``)."""
    try:
        # decoding up to max_body_bytes of JSON takes a while: not on the event loop
        rows = await asyncio.to_thread(codec.decode_request, body)
        rows = service.runtime.limit_rows(rows)
    except CodecError as exc:
        raise PayloadError(
            f"not a {codec.protocol} request: {exc.message}", field=exc.field
        ) from None
    if not rows:
        raise PayloadError("the request holds no rows")
    return {"instances": [dict(zip(service.runtime.schema.names, rows[0], strict=True))]}


async def explain_row(
    service: Service, method: str, records: dict[str, Any], params: dict[str, Any]
) -> tuple[str, Explanation]:
    """(id, explanation) of the one row in ``records``."""
    ticket = (await asyncio.to_thread(service.tickets, method, records, 0, params))[0]
    explanation = await service.result(ticket)
    assert explanation is not None
    return ticket.id, explanation


async def planned(
    service: Service, method: str, records: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The dry run's answer (``DryRunOut``) for the one row in ``records``."""
    plan = await asyncio.to_thread(answer_dry_run, service.runtime, method, records, 0, params)
    return plan.model_dump(mode="json")


def alibi_answer(
    service: Service, id: str, explanation: Explanation, link: LinkFor
) -> dict[str, Any]:
    return to_alibi(
        explanation,
        id=id,
        links=links_for(id, link),
        names=service.runtime.schema.names,
        class_names=service.runtime.class_names,
    )


async def explain_foreign(
    request: Request,
    service: Service,
    codec: Codec,
    method: str | None,
    dry_run: bool,
    format: str,
) -> dict[str, Any]:
    chosen = method or default_method(service.runtime.classes)
    params = method_params(request)
    depth = service.settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, await request.body(), "the body", depth)
    records = await first_row(service, codec, body)
    if dry_run:
        return await planned(service, chosen, records, params)
    id, explanation = await explain_row(service, chosen, records, params)
    if format == "json":
        return answer(id, explanation, get_link(request))
    return alibi_answer(service, id, explanation, get_link(request))
