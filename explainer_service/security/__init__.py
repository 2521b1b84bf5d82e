"""Access control and browser security: tokens, signed links, headers, cross-site refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI

from explainer_service.security.access import AccessControl
from explainer_service.security.cross_site import CrossSiteGuard
from explainer_service.security.headers import SecurityHeaders
from explainer_service.security.refusal import Respond
from explainer_service.security.requests import (
    EncodingGuard,
    HeadAsGet,
    HostAllowList,
    OwnRedirects,
)
from explainer_service.security.signing import LinkSigner
from explainer_service.security.urls import UrlBuilder, signer_of
from explainer_service.settings import SecuritySettings

__all__ = [
    "AccessControl",
    "CrossSiteGuard",
    "LinkSigner",
    "Respond",
    "SecurityHeaders",
    "UrlBuilder",
    "protect",
    "signer_of",
]


def protect(
    app: FastAPI,
    security: SecuritySettings,
    respond: Respond,
    docs_paths: Iterable[str],
    *,
    allowed_hosts: Iterable[str] = ("*",),
    decodes: Callable[[str], bool] = lambda path: False,
) -> None:
    """Add the middlewares, outermost first: security headers on every answer (refusals
    included; ``docs_paths``, the pages that start Swagger UI and ReDoc, get
    ``DOCS_POLICY``), the host allow-list (``allowed_hosts`` and the public base URL's
    host), ``HEAD`` as ``GET``, redirects built from the public base URL, access control,
    cross-site refusal, compressed bodies refused where the route does not ``decodes`` them;
    and ``app.state.link``, the ``UrlBuilder`` every printed link goes through. Call after
    the other middlewares."""
    signer = signer_of(security)
    base = str(security.public_base_url) if security.public_base_url else None
    app.state.link = UrlBuilder(base or "", signer)
    hosts = [*allowed_hosts, *([urlsplit(base).hostname or ""] if base else [])]
    app.add_middleware(EncodingGuard, respond=respond, decodes=decodes)
    app.add_middleware(CrossSiteGuard, public_base_url=base, respond=respond)
    app.add_middleware(AccessControl, security=security, signer=signer, respond=respond)
    app.add_middleware(OwnRedirects, public_base_url=base)
    app.add_middleware(HeadAsGet)
    app.add_middleware(HostAllowList, allowed=hosts, respond=respond)
    app.add_middleware(SecurityHeaders, docs_paths=docs_paths)
