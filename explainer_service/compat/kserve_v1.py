"""KServe's v1 explain route, ``POST /v1/models/{name}:explain``, as its clients call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut
from explainer_service.api.deps import DryRun, get_service
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.common import CompatFormat, explain_foreign
from explainer_service.errors import NotFoundError
from explainer_service.model_client.codecs import KServeV1Codec
from explainer_service.service import Service
from explainers.errors import shown

router = APIRouter(tags=["compatibility"])


@router.post(
    "/v1/models/{name}:explain",
    response_model=AlibiExplanation | ExplanationOut | DryRunOut,
    summary="KServe v1 explain",
)
async def kserve_explain(
    name: str,
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
    format: CompatFormat = "alibi",
) -> JSONResponse:
    """``{"instances": [[...]] | [{...}]}`` in; the explanation of the first instance out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    if name != service.settings.model.name:
        raise NotFoundError(
            f"no model named {shown(name)}; this service explains {service.settings.model.name!r}"
        )
    codec = KServeV1Codec(service.runtime.schema.names)
    return JSONResponse(await explain_foreign(request, service, codec, method, dry_run, format))
