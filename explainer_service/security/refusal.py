"""How the security middlewares answer a request they refuse: as every error is answered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from explainer_service.errors import AccessError, http_error
from explainer_service.render.negotiation import wants_html

#: The application's error answer: JSON, or the HTML error page when ``request.state.html``.
Respond = Callable[[Request, int, dict[str, Any]], Response]


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    error: AccessError,
    respond: Respond,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer ``error`` without reaching any route: the HTML error page when the client asks
    for HTML (``format=html``, or a browser's ``Accept``), else the JSON error."""
    request = Request(scope, receive)
    request.state.html = wants_html(request, request.query_params.get("format"))
    status, body = http_error(error)
    response = respond(request, status, body)
    response.headers.update(headers or {})
    await response(scope, receive, send)
