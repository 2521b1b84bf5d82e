"""The requests the client sends and how it reads the answers, shared by the blocking and
the asyncio client (which only send them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from explainer_service.client._errors import raise_for_answer, service_error
from explainer_service.presentation.inputs import request_body


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
