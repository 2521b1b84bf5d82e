"""Seldon Core v1's explain route, ``POST /api/v1.0/explain``, as its clients call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut
from explainer_service.api.deps import DryRun, get_service
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.common import CompatFormat, explain_foreign
from explainer_service.model_client.codecs import SeldonCodec
from explainer_service.service import Service

router = APIRouter(tags=["compatibility"])


@router.post(
    "/api/v1.0/explain",
    response_model=AlibiExplanation | ExplanationOut | DryRunOut,
    summary="Seldon Core v1 explain",
)
async def seldon_explain(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
    format: CompatFormat = "alibi",
) -> JSONResponse:
    """``{"data": {"names", "ndarray"}}`` in; the explanation of the first row out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    codec = SeldonCodec(service.runtime.schema.names)
    return JSONResponse(await explain_foreign(request, service, codec, method, dry_run, format))
