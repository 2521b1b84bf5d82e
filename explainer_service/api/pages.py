"""The landing page, and the static scripts of the pages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import plotly
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from explainer_service.api.answers import words
from explainer_service.api.deps import LinkDep, RuntimeDep, ServiceDep, SettingsDep, StoreDep
from explainer_service.render import render_landing
from explainers.wire import native

router = APIRouter(tags=["pages"])

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
STATIC = Path(__file__).parent.parent / "render" / "static"
FIGURE_JS = STATIC / "figure.js"
WHATIF_JS = STATIC / "whatif.js"
#: The window the landing page's links to logged traffic show.
WINDOW = "7d"


@router.get("/static/plotly.min.js", include_in_schema=False)
async def plotly_js() -> FileResponse:
    """plotly.js from the installed plotly package: pages never load it from elsewhere."""
    return FileResponse(
        PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/static/figure.js", include_in_schema=False)
async def figure_js() -> FileResponse:
    """Draws a page's figure from its JSON data block (pages run no inline script)."""
    return FileResponse(FIGURE_JS, media_type="text/javascript")


@router.get("/static/whatif.js", include_in_schema=False)
async def whatif_js() -> FileResponse:
    """The what-if editor of explanation pages (``render/templates/whatif.html.j2``)."""
    return FileResponse(WHATIF_JS, media_type="text/javascript")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def landing(
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    store: StoreDep,
    link: LinkDep,
) -> str:
    """The model, readiness, the methods, a form to explain a payload, the latest
    explanations; links to ``/fairness`` for each of ``features.protected`` and to
    ``/compare/inferences`` with ``models.candidate`` (signed when links are)."""
    fairness = {
        attribute: link(f"/fairness?{urlencode({'attribute': attribute, 'window': WINDOW})}")
        for attribute in settings.features.protected
    }
    compare = (
        None
        if settings.models.candidate is None
        else link(f"/compare/inferences?{urlencode({'window': WINDOW})}")
    )
    example = runtime.reference[runtime.schema.names].iloc[0].to_dict()
    example = {k: native(v) for k, v in example.items()}
    return render_landing(
        model_name=settings.model.name,
        protocol=settings.model.protocol,
        output=settings.model.output,
        readiness=service.readiness,
        explainers=settings.explainers,
        example_payload=json.dumps({"instances": [example]}, indent=2),
        recent=await asyncio.to_thread(store.recent, 10),
        link=link,
        words=words(settings, runtime),
        fairness_links=fairness,
        compare_link=compare,
        window=WINDOW,
    )
