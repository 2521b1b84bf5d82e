"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response

from explainer_service.api.bodies import (
    CandidateReadinessOut,
    Liveness,
    PolicyBacklogOut,
    QueueOut,
    Readiness,
    WorkerOut,
)
from explainer_service.api.deps import PolicySchedulerDep, ServiceDep

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> Liveness:
    return Liveness(status="alive")


@router.get(
    "/health/ready",
    responses={503: {"model": Readiness, "description": "not ready, with the reason"}},
)
async def ready(
    service: ServiceDep, scheduler: PolicySchedulerDep, response: Response
) -> Readiness:
    """Ready when every worker has fitted its explainers and the model answered the last
    check. ``candidate``: whether ``models.candidate`` answered it too (it does not decide
    readiness: without it only comparisons fail). ``queue``: explanations waiting for a
    worker, the limit beyond which requests get 429, and whether it is reached.
    ``workers``: each worker process's index, pid, state, task and restarts. ``policy``:
    the explanation policy's backlog."""
    state = service.readiness
    response.status_code = 200 if state.ready else 503
    return Readiness(
        ready=state.ready,
        reason=state.reason,
        checked_at=state.checked_at,
        candidate=None
        if state.candidate is None
        else CandidateReadinessOut.model_validate(state.candidate, from_attributes=True),
        queue=QueueOut.model_validate(service.saturation()),
        workers=[WorkerOut.model_validate(w) for w in service.pool.workers()],
        policy=PolicyBacklogOut.model_validate(scheduler.status())
        if scheduler.policy.active
        else None,
    )
