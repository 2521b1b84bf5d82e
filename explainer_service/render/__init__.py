"""HTML pages of the service (Jinja2, autoescaped).

The page names are imported when first used (PEP 562): the notebook client imports
``render.figures``, ``render.summary`` and ``render.vocabulary``, which need plotly but
neither Jinja2 nor the store."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explainer_service.render.pages import (
        LinkFor,
        as_is,
        drilldown_link,
        links_for,
        render_error,
        render_explanation,
        render_landing,
        render_status,
    )
    from explainer_service.render.vocabulary import Vocabulary

__all__ = [
    "LinkFor",
    "Vocabulary",
    "as_is",
    "drilldown_link",
    "links_for",
    "render_error",
    "render_explanation",
    "render_landing",
    "render_status",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "vocabulary" if name == "Vocabulary" else "pages"
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
