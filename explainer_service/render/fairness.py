"""The page of ``GET /fairness``: one protected attribute over a window of logged traffic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.inference import when
from explainer_service.render.pages import _env


def render_fairness(
    report: Mapping[str, Any], *, model_name: str, words: Vocabulary, json_link: str
) -> str:
    """``report``: ``inferences.parity.ParityReport`` as JSON data (``model_dump``)."""
    return _env.get_template("fairness.html.j2").render(
        r=report, words=words, model_name=model_name, json_link=json_link, when=when
    )
