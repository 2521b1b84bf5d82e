"""The links the service prints: absolute from the configured public base URL, signed when
a link secret is configured."""

from __future__ import annotations

from explainer_service.security.signing import LinkSigner
from explainer_service.settings import SecuritySettings


class UrlBuilder:
    """``builder("/explanations/abc?format=html")`` is the link to print for that path.

    Never built from the request (its ``Host`` header is whatever the client sent): the base
    is ``auth.public_base_url``, or nothing (a relative link)."""

    def __init__(self, base: str = "", signer: LinkSigner | None = None) -> None:
        self.base = base.rstrip("/")
        self.signer = signer

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> UrlBuilder:
        base = str(security.public_base_url) if security.public_base_url else ""
        return cls(base, signer_of(security))

    def __call__(self, path_and_query: str) -> str:
        signed = self.signer.sign(path_and_query) if self.signer else path_and_query
        return self.base + signed


def signer_of(security: SecuritySettings) -> LinkSigner | None:
    """The signer of ``auth.link_secret``, or None when links are not signed."""
    if security.link_secret is None:
        return None
    return LinkSigner(security.link_secret.get_secret_value().encode(), security.link_ttl_s)
