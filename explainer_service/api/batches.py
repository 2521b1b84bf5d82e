"""``POST /batches`` and ``GET /batches/{id}``: a batch of rows explained on Ray, as
``explainer-service batch`` explains a file (``explainer_service.batch``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from explainer_service.api.bodies import Body, answers, error_responses
from explainer_service.api.deps import BatchesDep, LinkDep, ServiceDep
from explainer_service.batch import Item, Outcome
from explainer_service.batch.extra import require_batch
from explainer_service.batch.jobs import BatchJob
from explainer_service.errors import ShuttingDownError
from explainer_service.presentation.frames import prediction_columns
from explainer_service.render import LinkFor, links_for

router = APIRouter(tags=["batches"])

#: Rows one batch may hold (the body is bounded by service.max_body_bytes too).
MAX_ROWS = 100_000


class BatchIn(BaseModel):
    method: str = Field("shap", description="anchors, shap, counterfactual, ...")
    rows: list[Any] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="logged inference payloads in the model's protocol (each of their rows "
        "is explained), or records {feature: value}",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="the method's")


class BatchRow(Body):
    """One explained row: ``row`` (in ``rows``), ``instance`` (within its payload)."""

    row: int
    instance: int
    id: str | None
    source: str = Field(description="computed, stored (done before) or failed")
    url: str | None
    label: str | None = None
    probability: float | None = None
    error: str | None = None
    code: str | None = None


class BatchOut(Body):
    id: str
    method: str
    status: str = Field(description="queued, running, done, or failed (it could not run)")
    rows: int = Field(description="rows to explain")
    finished: int
    counts: dict[str, int] = Field(description="finished rows: stored, computed, failed")
    created_at: str
    error: dict[str, Any] | None
    results: list[BatchRow] | None = Field(description="once done, one per row")
    links: dict[str, str]


def _row(item: Item, outcome: Outcome, link: LinkFor) -> BatchRow:
    row: dict[str, Any] = {"row": item.row, "instance": item.instance}
    row |= {"id": outcome.id, "source": outcome.source, "url": None}
    if outcome.explanation is not None and outcome.id is not None:
        row |= prediction_columns(outcome.explanation)
        row["url"] = links_for(outcome.id, link)["html"]
    if outcome.error is not None:
        row |= {"error": outcome.error.get("message"), "code": outcome.error.get("code")}
    return BatchRow.model_validate(row)


def _out(job: BatchJob, link: LinkFor) -> BatchOut:
    report = job.report
    results = None
    if report is not None:
        pairs = zip(report.items, report.outcomes, strict=True)
        results = [_row(item, outcome, link) for item, outcome in pairs]
    return BatchOut(
        id=job.id,
        method=job.method,
        status=job.status,
        rows=len(job.items),
        finished=job.finished,
        counts=job.counts,
        created_at=job.created_at,
        error=job.error,
        results=results,
        links={"json": link(f"/batches/{job.id}")},
    )


@router.post(
    "/batches",
    summary="Explain many rows on Ray",
    responses={**error_responses(), **answers(202, BatchOut, "accepted: ask /batches/{id}")},
    status_code=202,
)
async def post_batch(
    body: BatchIn,
    service: ServiceDep,
    batches: BatchesDep,
    link: LinkDep,
    response: Response,
) -> BatchOut:
    """Checks the method and its parameters, reads the rows (one that cannot be read is
    that row's error in the results), and answers 202 with the batch's id at once. The
    batches run one at a time, each on Ray (``batch.address``, else a local Ray), with at
    most ``batch.max_in_flight`` explanations at once; rows already in the store are
    answered from it. Without Ray and pyarrow (the ``batch`` extra) it answers 501
    ``extra_missing``, naming the extra."""
    if service.draining:
        raise ShuttingDownError()
    require_batch()
    job = await asyncio.to_thread(batches.submit, body.method, body.rows, body.parameters)
    accepted = _out(job, link)
    response.headers["Location"] = accepted.links["json"]
    return accepted


@router.get(
    "/batches/{id}",
    summary="A batch's progress, and its results once done",
    responses=error_responses(),
)
async def get_batch(id: str, batches: BatchesDep, link: LinkDep) -> BatchOut:
    return _out(batches.get(id), link)
