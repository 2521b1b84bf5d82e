"""``GET /links``: the drill-down links of a logged payload, one per method."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from explainer_service.api.deps import get_link, get_service, parse_json
from explainer_service.render import LinkFor, drilldown_link
from explainer_service.service import Service

router = APIRouter(tags=["links"])


@router.get("/links", summary="Drill-down links for a payload, one per method")
async def links(
    service: Annotated[Service, Depends(get_service)],
    link: Annotated[LinkFor, Depends(get_link)],
    payload: Annotated[str, Query(description="the logged inference payload (JSON)")],
) -> dict[str, str]:
    """Checks that the payload is readable and its rows fit the feature schema, then
    answers method -> link: absolute from ``auth.public_base_url`` (never from the
    request's Host), relative when that is not set; signed when links are."""
    depth = service.settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, payload, "the payload parameter", depth)
    # a payload whose explanations would fail (unreadable, a wrong category) gets its error now
    rows = await asyncio.to_thread(service.runtime.rows, body)
    await asyncio.to_thread(service.runtime.schema.normalise, rows)
    return {
        method: link(drilldown_link(method, body))
        for method, cls in service.runtime.classes.items()
        if cls.local
    }
