"""The page of one logged inference: the record of a decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.pages import LinkFor, _env
from explainer_service.store import Record
from explainer_service.store.inferences import Inference


def when(stamp: str | None) -> str:
    """An ISO 8601 time as pages print it (``2026-12-06 10:00:00 UTC``); a dash for none,
    and a time that is not ISO 8601 (a logger's) as it came."""
    if not stamp:
        return "—"
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def inference_path(id: str) -> str:
    """The path of a logged inference's record: its id percent-encoded, ``/`` included
    (so that no browser or proxy normalises it)."""
    return f"/inferences/{quote(id, safe='')}"


def explain_path(id: str, method: str) -> str:
    """The path and query of the page explaining inference ``id`` with ``method``: the
    drill-down link by id (what Kibana links; no personal data in it)."""
    return f"{inference_path(id)}/explain?method={quote(method, safe='')}"


@dataclass(frozen=True)
class ExplanationRow:
    """One explanation of the inference, as the page lists it (texts already in words)."""

    id: str
    method: str
    created_at: str
    status: str
    prediction: str
    fidelity: str
    cost: str
    agreement: str
    agrees: bool | None
    href: str


def render_inference(
    inference: Inference,
    *,
    features: Mapping[str, Any] | None,
    answer: str,
    agreement: str,
    explanations: list[ExplanationRow],
    explain_links: Mapping[str, str],
    json_link: str,
    model_name: str,
    model_version: str | None,
    words: Vocabulary,
) -> str:
    """``features``: the logged row by feature name (None when only the answer was logged);
    ``answer``: what the model said, in words; ``agreement``: whether it still says so."""
    return _env.get_template("inference.html.j2").render(
        i=inference,
        features=features,
        answer=answer,
        agreement=agreement,
        explanations=explanations,
        explain_links=explain_links,
        json_link=json_link,
        model_name=model_name,
        model_version=model_version,
        words=words,
        when=when,
    )


def render_pending(
    record: Record, refresh_href: str, json_href: str, *, model_name: str, refresh_s: int = 2
) -> str:
    """The page of an explanation not done yet, which reloads ``refresh_href`` (the link
    that asked for it) until it is."""
    return _env.get_template("status.html.j2").render(
        record=record,
        links={"json": json_href, "html": refresh_href},
        model_name=model_name,
        refresh=None if record.status == "failed" else refresh_s,
    )


def record_links(id: str, link: LinkFor) -> dict[str, str]:
    """The record of inference ``id``: ``json`` and ``html`` (its page)."""
    path = inference_path(id)
    return {"json": link(path), "html": link(f"{path}?format=html")}
