"""The landing page."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from explainer_service.api.deps import get_service
from explainer_service.render import render_landing
from explainer_service.service import Service

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def landing(service: Annotated[Service, Depends(get_service)]) -> str:
    settings, runtime = service.settings, service.runtime
    example = runtime.reference[runtime.schema.names].iloc[0].to_dict()
    example = {k: v.item() if hasattr(v, "item") else v for k, v in example.items()}
    return render_landing(
        model_name=settings.model.name,
        model_url=str(settings.model.url),
        protocol=settings.model.protocol,
        output=settings.model.output,
        readiness=service.readiness,
        explainers=settings.explainers,
        example_payload=json.dumps({"instances": [example]}, indent=2),
        recent=service.store.recent(10),
    )
