"""KServe's v1 explain route, ``POST /v1/models/{name}:explain``, as its clients call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut
from explainer_service.api.deps import DryRun
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.common import CompatFormat, ExplainingDep, explain_foreign
from explainer_service.errors import NotFoundError
from explainer_service.model_client.codecs import KServeV1Codec
from explainers.errors import shown

router = APIRouter(tags=["compatibility"])


@router.post("/v1/models/{name}:explain", summary="KServe v1 explain")
async def kserve_explain(
    name: str,
    request: Request,
    explaining: ExplainingDep,
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
    format: CompatFormat = "alibi",
) -> AlibiExplanation | ExplanationOut | DryRunOut:
    """``{"instances": [[...]] | [{...}]}`` in; the explanation of the first instance out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    model = explaining.settings.model.name
    if name != model:
        raise NotFoundError(f"no model named {shown(name)}; this service explains {model!r}")
    codec = KServeV1Codec(explaining.runtime.schema.names)
    return await explain_foreign(request, explaining, codec, method, dry_run, format)
