"""``GET /links``: the drill-down links of a logged payload, one per method."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from explainer_service.api.deps import LinkDep, RuntimeDep, SettingsDep, parse_json
from explainer_service.render import drilldown_link

router = APIRouter(tags=["links"])


@router.get("/links", summary="Drill-down links for a payload, one per method")
async def links(
    settings: SettingsDep,
    runtime: RuntimeDep,
    link: LinkDep,
    payload: Annotated[str, Query(description="the logged inference payload (JSON)")],
) -> dict[str, str]:
    """Checks that the payload is readable and its rows fit the feature schema, then
    answers method -> link: absolute from ``auth.public_base_url`` (never from the
    request's Host), relative when that is not set; signed when links are."""
    depth = settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, payload, "the payload parameter", depth)
    # a payload whose explanations would fail (unreadable, a wrong category) gets its error now
    rows = await asyncio.to_thread(runtime.rows, body)
    await asyncio.to_thread(runtime.schema.normalise, rows)
    return {method: link(drilldown_link(method, body)) for method in runtime.local_methods}
