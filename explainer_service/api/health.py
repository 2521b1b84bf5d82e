"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from explainer_service.api.bodies import Readiness
from explainer_service.api.deps import get_service
from explainer_service.service import Service

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready, with the reason"}},
)
async def ready(service: Annotated[Service, Depends(get_service)]) -> Any:
    """Ready when every worker has fitted its explainers and the model answered the last
    check. ``queue``: explanations waiting for a worker, the limit beyond which requests
    get 429, and whether it is reached. ``workers``: each worker process's index, pid,
    state, task and restarts."""
    state = service.readiness
    body = {
        "ready": state.ready,
        "reason": state.reason,
        "checked_at": state.checked_at,
        "queue": service.saturation(),
        "workers": service.pool.workers(),
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)
