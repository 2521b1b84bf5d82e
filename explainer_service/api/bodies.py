"""The bodies the routes answer: the OpenAPI document is generated from these models, and
every JSON answer is built through one of them, so the two cannot drift.

``Body`` forbids keys a model does not declare: building an answer with an undeclared key
fails (a 500 in tests, not a silent extra key), and the document says
``additionalProperties: false``. A route that answers one shape returns its model
(``response_model``); one that answers several (one explanation or a list, 200 or 202,
JSON or HTML) builds the model and serialises it itself, and ``responses`` says which
status and content type carries which.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from explainer_service.errors import ErrorBody
from explainer_service.store import Status
from explainer_service.workers import WorkerState
from explainers import Explanation
from explainers.explanation import Prediction


class Body(BaseModel):
    """An answer's body: exactly the keys it declares."""

    model_config = ConfigDict(extra="forbid")


class ExplanationOut(Explanation):
    """An Explanation, with its id in the store and where to find it."""

    id: str
    links: dict[str, str]


class ExplanationList(Body):
    """``instance=all``: one explanation per row."""

    explanations: list[ExplanationOut]


class AlibiExplanation(Body):
    """alibi's explanation shape, as ``alibi.api.interfaces.Explanation.to_json()`` gives it
    (``explainer_service.compat.alibi_shape``)."""

    meta: dict[str, Any] = Field(
        description="name, type, explanations, params, version; and this service's id, "
        "links, prediction, fidelity, cost, provenance and (with features.protected) "
        "fairness under explainer_service"
    )
    data: dict[str, Any] = Field(description="the method's keys in alibi")


class AlibiExplanationList(Body):
    """``instance=all`` with ``format=alibi``: one explanation per row."""

    explanations: list[AlibiExplanation]


class Pending(Body):
    """An explanation accepted but not answered yet (``mode=async``, or a slow drill-down)."""

    id: str
    status: Status
    links: dict[str, str]


class PendingList(Body):
    explanations: list[Pending]


class Summary(Body):
    """A stored explanation without its result: what ``/explanations`` lists, and what
    ``/explanations/{id}`` answers until it is done."""

    id: str
    method: str
    status: Status
    created_at: str
    updated_at: str
    prediction: Prediction | None
    error: dict[str, Any] | None = Field(description="the error answered, with its status")
    links: dict[str, str]


class Liveness(Body):
    status: str = Field(description="alive")


class QueueOut(Body):
    waiting: int = Field(description="explanations waiting for a worker")
    limit: int = Field(description="service.max_queue: beyond it, requests get 429")
    saturated: bool = Field(description="the limit is reached")


class WorkerOut(Body):
    index: int
    pid: int | None = Field(description="null until the process has started")
    state: WorkerState
    task: str | None = Field(description="the id of the task it runs")
    restarts: int


class PolicyBacklogOut(Body):
    waiting: int = Field(description="the explanation policy's jobs waiting, in the store")
    running: int = Field(description="its jobs running, by any replica")
    limit: int = Field(description="inference_log.policy.max_backlog: beyond it, dropped")
    lag_s: float = Field(description="age of the oldest waiting job, in seconds")


class CandidateReadinessOut(Body):
    """``models.candidate`` at the last check: a candidate that does not answer leaves the
    service ready, with ``compare=candidate`` and ``/compare/inferences`` failing (502/503/504
    naming it) until it answers again."""

    ready: bool
    reason: str = Field(description="ready, or why not, naming the candidate")
    name: str
    version: str | None


class Readiness(Body):
    ready: bool
    reason: str
    checked_at: float = Field(description="Unix time of the last check")
    candidate: CandidateReadinessOut | None = Field(
        None,
        description="models.candidate at the last check that reached the model; null when "
        "none is configured (or not checked yet)",
    )
    queue: QueueOut
    workers: list[WorkerOut] = Field(description="each worker process")
    policy: PolicyBacklogOut | None = Field(
        None,
        description="the explanation policy's backlog (as of its last round; it never makes "
        "the service unready); null without policy rules",
    )


class LoggedEvent(Body):
    """What ``POST /inferences`` did with one logger's event."""

    id: str = Field(description="the join key: KServe's Ce-Id, Seldon's Ce-Requestid")
    source: str = Field(description="the logger: kserve or seldon")
    type: str = Field(description="request, response or feedback")
    outcome: str = Field(
        description="stored, joined (the other side was there), duplicate, conflict (rows "
        "logged otherwise before: the first stays), dropped_component, dropped_model, "
        "dropped_feedback, dropped_synthetic (the explainers' own calls)"
    )
    model: str | None = Field(description="the model it is logged under; null when dropped")
    inferences: list[str] = Field(description="the inference id of each row, in row order")
    rows: dict[str, int] = Field(description="stored, joined, duplicate, conflict: how many rows")


#: Statuses any route may answer with an ``ErrorBody``.
ERRORS: dict[int, str] = {
    400: "the body or the payload parameter is not JSON",
    404: "no such explanation, model or route",
    401: "access control is on and no valid token, trusted header or link signature came",
    403: "a signed link was altered or has expired, or a cross-site request",
    413: "the request body is larger than service.max_body_bytes",
    415: "a body sent as a form or text (send application/json)",
    422: "the payload, instance, method or a parameter is wrong (the field is named)",
    429: "service.max_queue explanations wait already: try again after Retry-After seconds",
    500: "the service's own fault (the message gives the request id), or a worker died",
    502: "the model answered an error, or in another protocol",
    503: "the model is unreachable, or the explainers are not ready",
    504: "the model did not answer in time, or the explanation passed service.budget.max_seconds",
}

HTML = {"text/html": {"schema": {"type": "string"}}}


def error_responses(*, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses`` for the error statuses; ``html``: the route answers a page instead when
    the client asks for HTML."""
    return {
        status: {"model": ErrorBody, "description": text, **({"content": HTML} if html else {})}
        for status, text in ERRORS.items()
    }


def answers(
    status: int, model: Any, description: str, *, html: bool = False
) -> dict[int | str, dict[str, Any]]:
    """``responses`` entry for a success status that ``model`` describes (and a page)."""
    return {
        status: {"model": model, "description": description, **({"content": HTML} if html else {})}
    }
