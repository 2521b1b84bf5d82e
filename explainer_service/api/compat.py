"""Routes that clients written for KServe and Seldon Core call unchanged."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from explainer_service.api.bodies import ExplanationOut
from explainer_service.api.deps import (
    DryRun,
    answer,
    get_link,
    get_service,
    method_params,
    parse_json,
)
from explainer_service.dry_run import DryRunOut, answer_dry_run
from explainer_service.errors import NotFoundError, PayloadError
from explainer_service.model_client.codecs import Codec, CodecError, KServeV1Codec, SeldonCodec
from explainer_service.service import Service
from explainers.errors import shown

router = APIRouter(tags=["compatibility"])


async def _explain(
    request: Request, service: Service, codec: Codec, method: str | None, dry_run: bool
) -> dict[str, Any]:
    raw = await request.body()
    chosen = method or (
        "anchors" if "anchors" in service.runtime.classes else next(iter(service.runtime.classes))
    )
    params = method_params(request)
    # decoding up to max_body_bytes of JSON takes a while: not on the event loop
    records = await asyncio.to_thread(_first_row, service, codec, raw)
    if dry_run:
        planned = await asyncio.to_thread(
            answer_dry_run, service.runtime, chosen, records, 0, params
        )
        return planned.model_dump(mode="json")
    ticket = (await asyncio.to_thread(service.tickets, chosen, records, 0, params))[0]
    explanation = await service.result(ticket)
    assert explanation is not None
    return answer(ticket.id, explanation, get_link(request))


def _first_row(service: Service, codec: Codec, raw: bytes) -> dict[str, Any]:
    """The request's first row as records (``{"instances": [{feature: value}]}``)."""
    try:
        body = parse_json(raw, max_depth=service.settings.service.max_json_depth)
        rows = service.runtime.limit_rows(codec.decode_request(body))
    except CodecError as exc:
        raise PayloadError(
            f"not a {codec.protocol} request: {exc.message}", field=exc.field
        ) from None
    if not rows:
        raise PayloadError("the request holds no rows")
    return {"instances": [dict(zip(service.runtime.schema.names, rows[0], strict=True))]}


@router.post(
    "/v1/models/{name}:explain",
    response_model=ExplanationOut | DryRunOut,
    summary="KServe v1 explain",
)
async def kserve_explain(
    name: str,
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> JSONResponse:
    """``{"instances": [[...]] | [{...}]}`` in; the explanation of the first instance out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    if name != service.settings.model.name:
        raise NotFoundError(
            f"no model named {shown(name)}; this service explains {service.settings.model.name!r}"
        )
    codec = KServeV1Codec(service.runtime.schema.names)
    return JSONResponse(await _explain(request, service, codec, method, dry_run))


@router.post(
    "/api/v1.0/explain",
    response_model=ExplanationOut | DryRunOut,
    summary="Seldon Core v1 explain",
)
async def seldon_explain(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> JSONResponse:
    """``{"data": {"names", "ndarray"}}`` in; the explanation of the first row out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    codec = SeldonCodec(service.runtime.schema.names)
    return JSONResponse(await _explain(request, service, codec, method, dry_run))
