"""The bodies the routes answer, as the OpenAPI document states them.

Routes build their JSON by hand (``JSONResponse``) because one route answers several shapes
(one explanation or a list, 200 or 202, JSON or HTML); the models here say what those
shapes are, and ``responses`` says which status and content type carries which.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from explainer_service.errors import ErrorBody
from explainer_service.store import Status
from explainers import Explanation
from explainers.explanation import Prediction


class ExplanationOut(Explanation):
    """An Explanation, with its id in the store and where to find it."""

    id: str
    links: dict[str, str]


class ExplanationList(BaseModel):
    """``instance=all``: one explanation per row."""

    explanations: list[ExplanationOut]


class AlibiExplanation(BaseModel):
    """alibi's explanation shape, as ``alibi.api.interfaces.Explanation.to_json()`` gives it
    (``explainer_service.compat.alibi_shape``)."""

    meta: dict[str, Any] = Field(
        description="name, type, explanations, params, version; and this service's id, "
        "links, prediction, fidelity, cost and provenance under explainer_service"
    )
    data: dict[str, Any] = Field(description="the method's keys in alibi")


class Pending(BaseModel):
    """An explanation accepted but not answered yet (``mode=async``, or a slow drill-down)."""

    id: str
    status: Status
    links: dict[str, str]


class PendingList(BaseModel):
    explanations: list[Pending]


class Summary(BaseModel):
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


class Readiness(BaseModel):
    ready: bool
    reason: str
    checked_at: float = Field(description="Unix time of the last check")
    workers: list[dict[str, Any]] = Field(description="index, pid, state, task and restarts")


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
