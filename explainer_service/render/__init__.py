"""HTML pages of the service (Jinja2, autoescaped)."""

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
