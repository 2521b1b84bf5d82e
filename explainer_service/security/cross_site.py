"""State-changing requests that a page of another site cannot make a browser send."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from explainer_service.errors import AccessError, CrossSiteError, UnsupportedMediaTypeError
from explainer_service.security.refusal import Respond, refuse

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Body types a page of any site can POST without a CORS preflight (a form, or fetch with
#: ``mode: "no-cors"``). JSON needs a preflight, which this service never grants.
SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


class CrossSiteGuard:
    """Refuses a POST (or any method but GET, HEAD, OPTIONS) that a browser sent for another
    site: ``Sec-Fetch-Site: cross-site``, or an ``Origin`` that is neither the configured
    public base URL's nor the requested host's (403 ``cross_site``); and one whose body is a
    form or text (415). A request without ``Content-Type`` passes: a browser that sends one
    cross-site also sends ``Origin``, and non-browser clients (``httpx`` with ``content=``)
    often leave it out."""

    def __init__(self, app: ASGIApp, public_base_url: str | None, respond: Respond) -> None:
        self.app = app
        self.public_origin = _origin(public_base_url) if public_base_url else None
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            error = self._problem(Headers(scope=scope))
            if error is not None:
                await refuse(scope, receive, send, error, self.respond)
                return
        await self.app(scope, receive, send)

    def _problem(self, headers: Headers) -> AccessError | None:
        if headers.get("sec-fetch-site", "").lower() == "cross-site":
            return CrossSiteError("the browser sent this request for a page of another site")
        origin = headers.get("origin")
        if origin is not None and not self._own(origin, headers.get("host", "")):
            return CrossSiteError(f"requests from the origin {origin!r} are refused")
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type in SIMPLE_TYPES:
            return UnsupportedMediaTypeError(media_type)
        return None

    def _own(self, origin: str, host: str) -> bool:
        if self.public_origin is not None and _origin(origin) == self.public_origin:
            return True
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
