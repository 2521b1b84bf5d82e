"""The requests the client sends and how it reads the answers, shared by the blocking and
the asyncio client (which only send them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx

from explainer_service.client._errors import raise_for_answer, service_error
from explainer_service.presentation.inputs import request_body

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Request:
    """``method``, ``path``, ``params``, ``json``: what ``httpx`` sends."""

    method: str
    path: str
    params: dict[str, str]
    json: Any = None


def explain_request(
    x: Any, method: str, parameters: Mapping[str, Any], instance: int | None, *, wait: bool
) -> Request:
    """``POST /explain``: ``wait`` answers the explanation; else 202 with its id at once."""
    params = {"method": method, "format": "json"}
    if not wait:
        params["mode"] = "async"
    return Request("POST", "/explain", params, request_body(x, parameters, instance))


def inference_explain_request(id: str, method: str, parameters: Mapping[str, Any]) -> Request:
    """``POST /inferences/{id}/explain``: the logged inference ``id`` explained (waits)."""
    path = f"/inferences/{quote(id, safe='')}/explain"
    return Request(
        "POST", path, {"method": method, "format": "json"}, {"parameters": dict(parameters)}
    )


def inferences_request(limit: int, label: str | None, before: str | None) -> Request:
    """``GET /inferences``: a page of logged inferences, the newest first."""
    params = {"limit": str(limit)}
    if label is not None:
        params["label"] = label
    if before is not None:
        params["before"] = before
    return Request("GET", "/inferences", params)


def inference_items(response: httpx.Response) -> list[dict[str, Any]]:
    """The items of a page of ``GET /inferences``; the typed exception for an error."""
    raise_for_answer(response)
    body = response.json()
    if not isinstance(body, list):
        raise service_error(response.status_code, f"not a JSON list: {response.text[:200]}")
    return body


def inference_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """Logged inferences as a table indexed by id: when, which model and endpoint, the
    predicted ``label`` and its ``score``, whether both sides were logged, then the
    logged row's features (empty where only the answer was logged)."""
    import pandas as pd

    columns = ["logged_at", "model", "endpoint", "label", "score", "complete"]
    rows = [{**{c: item.get(c) for c in columns}, **(item.get("instance") or {})} for item in items]
    frame = pd.DataFrame(rows, index=pd.Index([item["id"] for item in items], name="id"))
    return frame if rows else pd.DataFrame(columns=columns, index=frame.index)


def fairness_request(attribute: str, window: str) -> Request:
    """``GET /fairness``: one protected attribute over a window of logged traffic."""
    return Request("GET", "/fairness", {"attribute": attribute, "window": window, "format": "json"})


def fairness_page(base_url: str, attribute: str, window: str) -> str:
    """The page of ``GET /fairness`` (it takes the client's token, or the service's own
    signed link from its landing page)."""
    query = urlencode({"attribute": attribute, "window": window, "format": "html"})
    return f"{base_url}/fairness?{query}"


def record_request(id: str) -> Request:
    return Request("GET", f"/explanations/{quote(id, safe='')}", {"format": "json"})


def answer_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; the typed exception for an error."""
    raise_for_answer(response)
    body = response.json()
    if not isinstance(body, dict):
        raise service_error(response.status_code, f"not a JSON object: {response.text[:200]}")
    return body


@dataclass(frozen=True)
class Ticket:
    """An explanation accepted with ``mode=async``: ``stored`` when the service had it
    already (it is fetched, not computed)."""

    id: str
    stored: bool


def ticket(response: httpx.Response) -> Ticket:
    body = answer_body(response)
    return Ticket(str(body["id"]), body.get("status") == "done")


def record(response: httpx.Response) -> dict[str, Any] | None:
    """A stored explanation's body when it is done; None while it is pending or running;
    the typed exception it failed with (its stored error, with its status)."""
    body = answer_body(response)
    if "result" in body:
        return body
    if body.get("status") == "failed":
        error = dict(body.get("error") or {})
        status = int(error.pop("status", 500))
        raise service_error(status, {"error": error}, response.headers.get("x-request-id"))
    return None
