"""Two versions of the model side by side: ``compare=candidate`` on ``/explain`` (answered
through ``explain_compared``), and ``GET /compare/inferences`` for logged traffic.

The candidate's URL comes only from the configuration (``models.candidate``); a request
names the version (``candidate``), never an address.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from explainer_service.api.answers import json_answer, words
from explainer_service.api.bodies import HTML, error_responses
from explainer_service.api.deps import RuntimeDep, ServiceDep, SettingsDep, StoreDep
from explainer_service.comparison import (
    Comparison,
    ModelSide,
    WindowComparison,
    compare_explanations,
    rescore_window,
)
from explainer_service.comparison.bodies import Version
from explainer_service.comparison.checks import check_comparable
from explainer_service.comparison.window import window_days
from explainer_service.errors import NotFoundError
from explainer_service.render import LinkFor, links_for
from explainer_service.render.comparison import render_comparison, render_window_comparison
from explainer_service.render.negotiation import wants_html
from explainer_service.runtime import Runtime
from explainer_service.service import Service, Ticket
from explainer_service.settings import Settings
from explainer_service.store import Record
from explainers import BlackBox, Explanation, ParameterError
from explainers.explanation import ShapResult
from explainers.model import CountingModel, OutputKind

router = APIRouter(tags=["compare"])

#: The query parameter of /explain that asks for both versions.
Compare = Annotated[
    Literal["candidate"] | None,
    Query(
        description="candidate: explain the instance with model and models.candidate too, "
        "with the same parameters and seed, and answer the two side by side (Comparison)"
    ),
]


def candidate_of(service: Service) -> Runtime:
    if service.candidate is None:
        raise NotFoundError("no candidate model: models.candidate is not configured")
    return service.candidate


def explained_by(
    record: Record, service: Service, settings: Settings, runtime: Runtime
) -> tuple[Settings, Runtime]:
    """The settings and runtime of the version that made a stored explanation (its page
    names that version): the candidate's for a candidate task, else the model's."""
    if record.task and record.task.get("candidate") and service.candidate is not None:
        return service.candidate.settings, service.candidate
    return settings, runtime


def counted(runtime: Runtime) -> CountingModel:
    """``runtime``'s model, counting the requests made from the calling thread."""
    model, settings = runtime.model, runtime.settings.model
    box = BlackBox(model.predict, settings.output, runtime.class_names, usage=model.thread_stats)
    return CountingModel(box, runtime.schema)


async def explain_compared(
    service: Service,
    settings: Settings,
    runtime: Runtime,
    link: LinkFor,
    *,
    method: str,
    payload: Any,
    instance: str,
    params: dict[str, Any],
    html: bool,
    shape: str | None = None,
) -> Response:
    """Explain one row of ``payload`` with ``method`` under both versions (two stored
    explanations, computed by the workers) and answer them side by side, when both are done.
    ``shape``: the ``format`` or ``mode`` asked for, refused unless it is json or html."""
    candidate = candidate_of(service)
    if shape not in (None, "json", "html"):
        field = "mode" if shape == "async" else "format"
        raise ParameterError(method, field, f"compare: {field}={shape} is not offered")
    check_comparable(method, instance)
    chosen = await asyncio.to_thread(runtime.instances, method, payload, instance)
    rows = [row for row in chosen if row is not None]  # compared methods explain one row
    tickets = {
        "model": await asyncio.to_thread(service.tickets_of_rows, method, rows, params),
        "candidate": await asyncio.to_thread(
            service.tickets_of_rows, method, rows, params, candidate=True
        ),
    }
    first, second = await asyncio.gather(
        service.result(tickets["model"][0]), service.result(tickets["candidate"][0])
    )
    assert first is not None and second is not None  # no timeout: done or raised
    results: dict[Version, tuple[Ticket, Explanation]] = {
        "model": (tickets["model"][0], first),
        "candidate": (tickets["candidate"][0], second),
    }
    wanted = _shap_output(first)
    if wanted is not None and _shap_output(second) != wanted:  # both must explain one class
        same = {**params, "output_class": wanted}
        again = await asyncio.to_thread(service.tickets_of_rows, method, rows, same, candidate=True)
        explained = await service.result(again[0])
        assert explained is not None
        results["candidate"] = (again[0], explained)
    sides = {
        version: _side(version, ticket.id, explanation, settings, candidate, link)
        for version, (ticket, explanation) in results.items()
    }
    models: dict[Version, CountingModel] = {
        "model": counted(runtime),
        "candidate": counted(candidate),
    }
    explained_by = {version: explanation for version, (_, explanation) in results.items()}
    reference = runtime.reference_of(method)[0]
    comparison: Comparison = await asyncio.to_thread(
        compare_explanations,
        explained_by,
        sides,
        models,
        runtime.schema,
        reference,
        settings.models.rule_rows,
    )
    outcome = _outcome(comparison.decision_changed)
    service.metrics.compared("explanation", outcome, comparison.model_calls, comparison.rows)
    if html:
        page = render_comparison(
            comparison, model_name=settings.model.name, words=words(settings, runtime)
        )
        return HTMLResponse(page)
    return json_answer(comparison)


def _side(
    version: Version,
    id: str,
    explanation: Explanation,
    settings: Settings,
    candidate: Runtime,
    link: LinkFor,
) -> ModelSide:
    model = settings.model if version == "model" else candidate.settings.model
    return ModelSide(
        version=version,
        name=model.name,
        model_version=model.version,
        explanation_id=id,
        links=links_for(id, link),
        prediction=explanation.prediction,
    )


def _shap_output(explanation: Explanation) -> str | None:
    """The class a SHAP explanation explains (None for another method)."""
    result = explanation.result
    return result.output if isinstance(result, ShapResult) else None


def _outcome(changed: bool | None) -> str:
    return "unknown" if changed is None else ("changed" if changed else "same")


@router.get(
    "/compare/inferences",
    response_model=WindowComparison,
    summary="Logged inferences re-scored by the candidate: the share whose decision changes",
    responses={**error_responses(html=True), 200: {"description": "", "content": HTML}},
)
async def compare_inferences(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    window: Annotated[
        str, Query(description="how far back, by the time logged: 30m, 12h, 7d")
    ] = "7d",
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
) -> Response:
    """The newest ``models.window_rows`` inferences logged in ``window`` with the model's
    answer, sent to ``models.candidate`` (one batched call, split into chunks of
    ``model.max_batch_rows``); how many of their decisions it changes, by decision."""
    request.state.html = wants_html(request, format)
    days = window_days(window)
    candidate = candidate_of(service)
    if candidate.settings.model.output is OutputKind.regression:
        raise ParameterError("compare", "window", "compare: a regression makes no decisions")
    rescored = await asyncio.to_thread(
        rescore_window,
        store,
        counted(candidate),
        days,
        settings.models.window_rows,
        model=settings.model.name,
        candidate_name=candidate.settings.model.name,
        candidate_version=candidate.settings.model.version,
        class_names=runtime.class_names,
    )
    metrics = service.metrics
    same = rescored.rescored - rescored.changed
    metrics.compared("inference", "changed", rescored.model_calls, rescored.rows, rescored.changed)
    metrics.compared("inference", "same", 0, 0, same)
    if request.state.html:
        page = render_window_comparison(
            rescored, model_name=settings.model.name, words=words(settings, runtime)
        )
        return HTMLResponse(page)
    return json_answer(rescored)
