"""The what-if editor of explanation pages: the live model's answer for edited values (one
model call, one row, nothing stored), and "explain this" (stored as any explanation, its
page linking back to the explanation the editor was opened on).

With access control on, a page's editor is granted these two routes by a signed link to
``/whatif`` printed in the page (``runtime.editor``, ``security.access``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter

from explainer_service.api.answers import words
from explainer_service.api.bodies import error_responses
from explainer_service.api.deps import LinkDep, RuntimeDep, ServiceDep, SettingsDep
from explainer_service.api.whatif_bodies import (
    WhatIfExplainIn,
    WhatIfExplanation,
    WhatIfIn,
    WhatIfPrediction,
)
from explainer_service.errors import NotFoundError
from explainer_service.inferences.agreement import answer_of, prediction_of_answer
from explainer_service.presentation.views import prediction_of
from explainer_service.runtime import Runtime
from explainer_service.runtime.editor import ranges
from explainer_service.runtime.editor_fields import check_values
from explainer_service.service import Service
from explainers import ParameterError
from explainers.explanation import Prediction

router = APIRouter(tags=["what-if"])


def _kept(service: Service, original: str | None) -> dict[str, Any] | None:
    """The instance of the explanation the editor was opened on (``original``); raises
    ``NotFoundError`` when no explanation has that id."""
    if original is None:
        return None
    record = service.store.get(original)
    if record is None:
        raise NotFoundError(f"no explanation with id {original!r}")
    explanation = record.explanation
    return dict(explanation.instance or {}) if explanation is not None else {}


def _row(runtime: Runtime, values: Mapping[str, Any], kept: Mapping[str, Any] | None) -> list[Any]:
    """The edited values as one wire row; raises the schema's 422s, naming the feature.
    ``kept``: the original instance's values, taken even outside a range."""
    row = runtime.schema.row_from_record(values)
    check_values(values, ranges(runtime), kept)
    return runtime.schema.normalise([row])[0]


def _predict(service: Service, row: list[Any]) -> Prediction:
    """One call to the model for one row, counted under the method label ``whatif``."""
    runtime, model = service.runtime, service.runtime.model
    before = model.thread_stats()
    try:
        scores = model.predict([row])
    finally:
        spent = model.thread_stats() - before
        service.metrics.model_calls.labels("whatif").inc(spent.calls)
        service.metrics.model_rows.labels("whatif").inc(spent.rows)
    answer = answer_of(scores[0], service.settings.model.output)
    prediction = prediction_of_answer(answer, runtime.class_names)
    assert prediction is not None  # answer_of always answers something
    return prediction


@router.post(
    "/whatif/predict",
    response_model=WhatIfPrediction,
    summary="The live model's answer for edited values (not stored)",
    responses=error_responses(),
)
async def whatif_predict(
    body: WhatIfIn, service: ServiceDep, settings: SettingsDep, runtime: RuntimeDep
) -> WhatIfPrediction:
    """One model call for one row; 422 naming the feature for a value the editor would not
    offer (an unknown category, a number outside the range of ``features.overrides`` or
    else of the reference data, unless ``original``'s instance has it); 404 when no
    explanation has the id ``original``."""
    kept = await asyncio.to_thread(_kept, service, body.original)
    row = await asyncio.to_thread(_row, runtime, body.values, kept)
    prediction = await asyncio.to_thread(_predict, service, row)
    service.metrics.whatif.labels("predict").inc()
    text = prediction_of(prediction, words(settings, runtime))
    return WhatIfPrediction(prediction=prediction, text=text)


@router.post(
    "/whatif/explain",
    response_model=WhatIfExplanation,
    summary="Explain edited values: stored as any explanation, its page links back",
    responses=error_responses(),
)
async def whatif_explain(
    body: WhatIfExplainIn,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    link: LinkDep,
) -> WhatIfExplanation:
    """Starts (or finds) the explanation and waits for it up to ``service.drilldown_wait_s``;
    ``links.html`` is its page, with a link back to ``original`` when given (404 when no
    explanation has that id)."""
    if body.method not in runtime.local_methods:
        raise ParameterError(
            body.method,
            "method",
            f"the editor explains one row: one of {', '.join(runtime.local_methods)}",
        )
    kept = await asyncio.to_thread(_kept, service, body.original)
    row = await asyncio.to_thread(_row, runtime, body.values, kept)
    ticket = (await asyncio.to_thread(service.tickets_of_rows, body.method, [row], {}))[0]
    service.metrics.whatif.labels("explain").inc()
    done = await service.result(ticket, timeout=settings.service.drilldown_wait_s)
    page = f"/explanations/{ticket.id}?format=html"
    if body.original is not None:
        page += f"&whatif_of={quote(body.original)}"
    status = "done" if done is not None else "pending"
    return WhatIfExplanation(
        id=ticket.id,
        status=status,
        links={"json": link(f"/explanations/{ticket.id}"), "html": link(page)},
    )
