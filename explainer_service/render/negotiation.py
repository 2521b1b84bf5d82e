"""Whether a request is answered with a page or with JSON."""

from __future__ import annotations

from starlette.requests import Request


def wants_html(request: Request, format: str | None, default: bool = False) -> bool:
    if format is not None:
        return format == "html"
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return True
    if "application/json" in accept:
        return False
    return default
