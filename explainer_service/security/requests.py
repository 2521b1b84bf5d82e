"""What a request must be before any route sees it: a host the service answers for, a body
encoding the route reads; and ``HEAD`` answered as ``GET``."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explainer_service.errors import UnsupportedEncodingError, UntrustedHostError
from explainer_service.security.refusal import Respond, refuse

#: Encodings that leave a body as it is.
IDENTITY = frozenset({"", "identity"})


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` (a ``Host`` header, port and all) is one ``patterns`` allow.

    IP addresses and names without a dot (``localhost``, a Kubernetes Service in the same
    namespace) are always allowed: a page that rebinds a DNS name of its own to the service's
    address sends that name, which has dots. ``*.example.org`` allows every name below
    ``example.org``; ``*`` allows every host."""
    name = _hostname(host)
    if not name or "." not in name or _is_address(name):
        return True
    return any(fnmatchcase(name, pattern.lower()) for pattern in patterns)


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostAllowList:
    """Refuses (400 ``untrusted_host``) a request whose ``Host`` is a DNS name that
    ``allowed`` does not match (``host_allowed``)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str], respond: Respond) -> None:
        self.app = app
        self.allowed = [pattern.lower() for pattern in allowed]
        self.respond = respond
        self.everything = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.everything:
            host = Headers(scope=scope).get("host", "")
            if not host_allowed(host, self.allowed):
                await refuse(scope, receive, send, UntrustedHostError(host), self.respond)
                return
        await self.app(scope, receive, send)


class EncodingGuard:
    """Refuses (415 ``unsupported_encoding``) a request body compressed in any way
    (``Content-Encoding``) on a path whose route does not decode it itself
    (``decodes(path)``: the inference log's sink reads gzip)."""

    def __init__(self, app: ASGIApp, respond: Respond, decodes: Callable[[str], bool]) -> None:
        self.app = app
        self.respond = respond
        self.decodes = decodes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            encoding = Headers(scope=scope).get("content-encoding", "").strip().lower()
            if encoding not in IDENTITY and not self.decodes(scope["path"]):
                error = UnsupportedEncodingError(encoding)
                await refuse(scope, receive, send, error, self.respond)
                return
        await self.app(scope, receive, send)


class HeadAsGet:
    """Answers ``HEAD`` as the route answers ``GET``, without the body (FastAPI's routes
    answer 405 to a ``HEAD`` of a ``GET`` route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class OwnRedirects:
    """Builds the ``Location`` of a redirect to this service (Starlette's slash redirects,
    ``POST /explain/`` -> ``/explain``) from ``public_base_url``, or relative: never from the
    ``Host`` header, which the client chose."""

    def __init__(self, app: ASGIApp, public_base_url: str | None) -> None:
        self.app = app
        self.base = (public_base_url or "").rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "").lower()

        async def rewritten(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message = {**message, "headers": self._headers(message["headers"], host)}
            await send(message)

        await self.app(scope, receive, rewritten)

    def _headers(self, headers: list[tuple[bytes, bytes]], host: str) -> list[tuple[bytes, bytes]]:
        fixed = []
        for name, value in headers:
            if name.lower() == b"location":
                value = self._location(value.decode("latin-1"), host).encode("latin-1")
            fixed.append((name, value))
        return fixed

    def _location(self, location: str, host: str) -> str:
        parts = urlsplit(location)
        if not parts.netloc or parts.netloc.lower() != host:
            return location  # relative already, or somewhere else on purpose
        path = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
        return self.base + path
