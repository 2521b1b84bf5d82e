"""Explanations of logged inferences, by id: the logged row explained as ``POST /explain``
explains a payload (the same cache key, so the same stored explanation), after asking the
model whether it still gives the logged answer (``agreement``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from explainer_service.errors import (
    InferenceIncompleteError,
    InferenceNotFoundError,
    ModelChangedError,
)
from explainer_service.inferences.agreement import Agreement, check
from explainer_service.service import Service, Ticket
from explainer_service.settings import ModelChanged
from explainer_service.store.inferences import Inference
from explainers import ParameterError


@dataclass(frozen=True)
class Started:
    """An explanation of a logged inference, asked for: its ticket, and the check."""

    inference: Inference
    ticket: Ticket
    agreement: Agreement


def logged(service: Service, id: str) -> Inference:
    """The logged inference ``id``; ``InferenceNotFoundError`` when there is none. Blocks."""
    inference = service.store.inference(id)
    if inference is None:
        raise InferenceNotFoundError(id)
    return inference


def explain(service: Service, id: str, method: str, params: Mapping[str, Any] | None) -> Started:
    """Check the request, ask the model again for the logged row (one call; not when no
    answer was logged), then start (or find) the explanation of the row and record the
    link. Blocks: call it in a thread.

    Raises ``InferenceNotFoundError`` (404), ``InferenceIncompleteError`` (409: only the
    answer was logged), ``ParameterError`` for a method that does not explain one row,
    ``ModelChangedError`` (409) when the model's answer changed and
    ``inference_log.on_model_changed`` is ``refuse``, and what ``Service.tickets_of_rows``
    and ``RemoteModel.predict`` raise."""
    inference = logged(service, id)
    if inference.instance is None:
        raise InferenceIncompleteError(id)
    runtime, settings = service.runtime, service.settings
    with service.metrics.counting_refusals():
        if method in runtime.classes and method not in runtime.local_methods:
            raise ParameterError(
                method,
                "method",
                f"{method} explains the model as a whole, not one inference: "
                f"GET /explain?method={method} answers it",
            )
        runtime.resolve_params(method, params)  # a bad request costs no model call
    agreement = _check(service, inference)
    policy = settings.inference_log
    if agreement.agrees is False and policy.on_model_changed is ModelChanged.refuse:
        service.metrics.refusals.labels("model_changed").inc()
        raise ModelChangedError(id, agreement.message, agreement.logged, agreement.live)
    ticket = service.tickets_of_rows(method, [inference.instance], params)[0]
    service.store.link_explanation(id, ticket.id, method, agreement.agrees, agreement.live)
    return Started(inference, ticket, agreement)


def _check(service: Service, inference: Inference) -> Agreement:
    model, settings = service.runtime.model, service.settings
    before = model.thread_stats()
    outcome = "failed"
    try:
        agreement = check(
            model,
            inference,
            settings.model.output,
            service.runtime.class_names,
            settings.inference_log.agreement_tolerance,
        )
        outcome = agreement.outcome
        return agreement
    finally:
        spent = model.thread_stats() - before
        service.metrics.checked_agreement(outcome, spent.calls, spent.rows)
