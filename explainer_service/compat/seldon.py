"""Seldon Core v1's explain route, ``POST /api/v1.0/explain``, as its clients call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut
from explainer_service.api.deps import DryRun
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.common import CompatFormat, ExplainingDep, explain_foreign
from explainer_service.model_client.codecs import SeldonCodec

router = APIRouter(tags=["compatibility"])


@router.post("/api/v1.0/explain", summary="Seldon Core v1 explain")
async def seldon_explain(
    request: Request,
    explaining: ExplainingDep,
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
    format: CompatFormat = "alibi",
) -> AlibiExplanation | ExplanationOut | DryRunOut:
    """``{"data": {"names", "ndarray"}}`` in; the explanation of the first row out
    (``dry_run=true``: its estimated cost, as on ``/explain``)."""
    codec = SeldonCodec(explaining.runtime.schema.names)
    return await explain_foreign(request, explaining, codec, method, dry_run, format)
