"""``GET /fairness``: a protected attribute over a window of the inference log, as JSON or
its page (``explainer_service.inferences.parity``). Reads the store only; asks the model
nothing."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from explainer_service.api.answers import json_answer, words
from explainer_service.api.bodies import HTML, error_responses
from explainer_service.api.deps import LinkDep, RuntimeDep, SettingsDep, StoreDep
from explainer_service.inferences.parity import ParityReport, parity
from explainer_service.render.fairness import render_fairness
from explainer_service.render.negotiation import wants_html

router = APIRouter(tags=["inferences"])


@router.get(
    "/fairness",
    response_model=ParityReport,
    summary="A protected attribute over logged traffic: positive rates, parity, flip tests",
    responses={
        **error_responses(html=True),
        200: {"description": "the report, or its page", "content": HTML},
    },
)
async def get_fairness(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    link: LinkDep,
    attribute: Annotated[
        str, Query(max_length=256, description="one of features.protected, e.g. gender")
    ],
    window: Annotated[str, Query(max_length=32, description="how far back: 30m, 12h, 7d")] = "7d",
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
) -> Response:
    """The favourable decisions (``fairness.positive_class``) per group of ``attribute``
    among the complete inferences logged in the last ``window`` (the newest
    ``fairness.max_window_rows``), the statistical parity difference and disparate impact
    ratio against the group of the highest rate with the four-fifths rule, and how many
    flip tests of the window's explanations flipped."""
    html = wants_html(request, format)
    request.state.html = html
    report = await asyncio.to_thread(parity, store, settings, runtime, attribute, window)
    if html:
        query = urlencode({"attribute": attribute, "window": window, "format": "json"})
        return HTMLResponse(
            render_fairness(
                report.model_dump(mode="json"),
                model_name=settings.model.name,
                words=words(settings, runtime),
                json_link=link(f"/fairness?{query}"),
            )
        )
    return json_answer(report)
