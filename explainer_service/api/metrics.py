"""``GET /metrics``: the service's Prometheus metrics (``explainer_service.observability.metrics``).

Open whatever the access control, as the health probes are (``security.access``): it
carries counts and durations, never a payload, an id or a model URL.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from explainer_service.api.deps import ServiceDep

router = APIRouter(tags=["health"])


# Not in the OpenAPI document: its answer is Prometheus's text format, not JSON.
@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, service: ServiceDep) -> Response:
    accept = request.headers.get("accept", "")
    # the gauges read the pool's and the queue's state: off the event loop
    text, content_type = await asyncio.to_thread(service.metrics.exposition, accept)
    return Response(text, headers={"Content-Type": content_type})
