"""Routes that clients written for KServe and Seldon Core call unchanged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from explainer_service.api.deps import DryRun, answer, get_service, method_params, parse_json
from explainer_service.dry_run import answer_dry_run
from explainer_service.errors import NotFoundError, PayloadError
from explainer_service.model_client.codecs import Codec, CodecError, KServeV1Codec, SeldonCodec
from explainer_service.service import Service

router = APIRouter(tags=["compatibility"])


async def _explain(
    request: Request, service: Service, codec: Codec, method: str | None, dry_run: bool
) -> dict[str, Any]:
    body = parse_json(await request.body())
    try:
        rows = codec.decode_request(body)
    except CodecError as exc:
        raise PayloadError(
            f"not a {codec.protocol} request: {exc.message}", field=exc.field
        ) from None
    if not rows:
        raise PayloadError("the request holds no rows")
    names = service.runtime.schema.names
    records = {"instances": [dict(zip(names, rows[0], strict=True))]}
    chosen = method or (
        "anchors" if "anchors" in service.runtime.classes else next(iter(service.runtime.classes))
    )
    if dry_run:
        planned = answer_dry_run(service.runtime, chosen, records, 0, method_params(request))
        return planned.model_dump(mode="json")
    ticket = service.tickets(chosen, records, 0, method_params(request))[0]
    explanation = await service.result(ticket)
    assert explanation is not None
    return answer(ticket.id, explanation)


@router.post("/v1/models/{name}:explain", summary="KServe v1 explain")
async def kserve_explain(
    name: str,
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> dict[str, Any]:
    """``{"instances": [[...]] | [{...}]}`` in; the explanation of the first instance out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    if name != service.settings.model.name:
        raise NotFoundError(
            f"no model named {name!r}; this service explains {service.settings.model.name!r}"
        )
    codec = KServeV1Codec(service.runtime.schema.names)
    return await _explain(request, service, codec, method, dry_run)


@router.post("/api/v1.0/explain", summary="Seldon Core v1 explain")
async def seldon_explain(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> dict[str, Any]:
    """``{"data": {"names", "ndarray"}}`` in; the explanation of the first row out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    codec = SeldonCodec(service.runtime.schema.names)
    return await _explain(request, service, codec, method, dry_run)
