"""The bodies of the inference routes (``explainer_service.api.inferences``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from explainer_service.api.bodies import Body, ExplanationOut, Pending
from explainer_service.store import Status


class AgreementOut(Body):
    """Whether the model, asked again for the logged row, still gave the logged answer."""

    agrees: bool | None = Field(description="null: not checked (no answer was logged)")
    outcome: Literal["agrees", "differs", "not_checked"]
    message: str = Field(description="says plainly which model the explanation is of")
    logged: dict[str, Any] | None = Field(
        description='the logged answer: {"scores": [...]}, {"label": x} or {"value": v}'
    )
    live: dict[str, Any] | None = Field(description="today's answer, in the same form")
    difference: float | None = Field(
        description="the largest difference of the probabilities (or values)"
    )


class ExplainIn(Body):
    """``POST /inferences/{id}/explain``'s optional body."""

    parameters: dict[str, Any] = Field(
        default_factory=dict, description="the method's parameters (query parameters win)"
    )


class InferenceExplanationOut(ExplanationOut):
    """An explanation of a logged inference: the explanation ``POST /explain`` gives for
    the same row, with the inference's id and the agreement check."""

    inference_id: str
    agreement: AgreementOut


class InferencePending(Pending):
    """``mode=async``: accepted, not done yet."""

    inference_id: str
    agreement: AgreementOut


class LinkedExplanation(Body):
    """An explanation made of the inference."""

    id: str
    method: str
    created_at: str
    status: Status | None = Field(description="null: removed from the store (retention)")
    agrees: bool | None = Field(
        description="the model, asked again then, still gave the logged answer (null: not "
        "checked, no answer was logged)"
    )
    live: dict[str, Any] | None = Field(description="the model's answer when asked again")
    links: dict[str, str]


class InferenceSummary(Body):
    """A logged inference in a list."""

    id: str
    model: str
    endpoint: str | None
    source: str
    logged_at: str
    requested_at: str | None
    answered_at: str | None
    label: str | None = Field(description="the predicted class")
    score: float | None = Field(description="its probability, or the regression's value")
    complete: bool = Field(description="both the request and the answer were logged")
    instance: dict[str, Any] | None = Field(description="the logged row, by feature")
    links: dict[str, str]


class InferenceOut(Body):
    """What was logged of one inference, and every explanation made of it."""

    id: str
    event_id: str
    row_index: int
    row_count: int
    source: str = Field(description="the logger: kserve or seldon")
    model: str
    endpoint: str | None
    component: str | None
    namespace: str | None
    protocol: str | None
    requested_at: str | None
    answered_at: str | None
    logged_at: str
    updated_at: str
    instance: dict[str, Any] | None = Field(
        description="the logged row, by feature (null: only the answer was logged)"
    )
    answer: dict[str, Any] | None = Field(
        description='the model\'s answer: {"scores": [...]}, {"label": x} or {"value": v}'
    )
    label: str | None
    score: float | None
    metadata: dict[str, Any] = Field(description="the request headers the operator allows")
    explanations: list[LinkedExplanation]
    links: dict[str, str] = Field(description="json and html: this record")
    explain: dict[str, str] = Field(
        description="method -> the page explaining it (signed when links are)"
    )
