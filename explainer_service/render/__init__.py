"""HTML pages of the service (Jinja2, autoescaped): what ``presentation`` says, laid out.

The page names are imported when first used (PEP 562)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explainer_service.render.pages import (
        LinkFor,
        RowLinks,
        as_is,
        drilldown_link,
        links_for,
        render_error,
        render_explanation,
        render_landing,
        render_status,
    )

__all__ = [
    "LinkFor",
    "RowLinks",
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
    return getattr(importlib.import_module(f"{__name__}.pages"), name)
