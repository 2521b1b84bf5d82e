"""Signed links: an HMAC of the request a link makes, valid until its expiry.

A signed link is the link with two more query parameters: ``expires`` (unix seconds) and
``sig``, the hex HMAC-SHA256 under ``auth.link_secret`` of::

    GET \\n <path, percent-encoded> \\n <every query parameter but sig, sorted, percent-encoded>

Changing the path, any parameter (adding or dropping one too) or the expiry breaks the
signature. The request is always GET: a signature never authorises a POST.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit

from explainer_service.errors import LinkExpiredError, LinkSignatureError

#: The query parameters a signature adds, which routes never see.
SIGNATURE_PARAMS = frozenset({"expires", "sig"})


class LinkSigner:
    """Signs links and verifies them; ``clock`` gives unix seconds (tests move it)."""

    def __init__(self, secret: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self.clock = clock

    def sign(self, path_and_query: str) -> str:
        """``path_and_query`` (percent-encoded, e.g. ``/explain?method=shap&payload=...``)
        with ``expires`` (now + ``ttl_s``) and ``sig`` added."""
        parts = urlsplit(path_and_query)
        expires = str(int(self.clock()) + self.ttl_s)
        pairs = [*parse_qsl(parts.query, keep_blank_values=True), ("expires", expires)]
        sig = self._digest(unquote(parts.path), pairs)
        query = f"{parts.query}&" if parts.query else ""
        return f"{parts.path}?{query}expires={expires}&sig={sig}"

    def verify(self, path: str, query: str) -> None:
        """Check the signature of a GET of ``path`` (decoded, as in the ASGI scope) with the
        raw ``query`` string. Raises ``LinkSignatureError`` when it is missing, malformed or
        does not match, ``LinkExpiredError`` when it matches but its time has passed."""
        pairs = parse_qsl(query, keep_blank_values=True)
        sigs = [value for key, value in pairs if key == "sig"]
        expiries = [value for key, value in pairs if key == "expires"]
        if len(sigs) != 1 or len(expiries) != 1 or not expiries[0].isdigit():
            raise LinkSignatureError("the link's signature is missing or malformed")
        expected = self._digest(path, [(k, v) for k, v in pairs if k != "sig"])
        if not hmac.compare_digest(expected.encode(), sigs[0].encode()):
            raise LinkSignatureError("the link's signature does not match: it was altered")
        if int(expiries[0]) < self.clock():
            raise LinkExpiredError("the link has expired; ask for a new one")

    def _digest(self, path: str, pairs: list[tuple[str, str]]) -> str:
        canonical = urlencode(sorted(pairs), quote_via=quote)
        message = f"GET\n{quote(path, safe='/')}\n{canonical}"
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()


def is_signed(query: bytes) -> bool:
    """Whether the raw query string has a ``sig`` parameter."""
    return any(_key(part) == "sig" for part in query.split(b"&"))


def strip_signature(query: bytes) -> bytes:
    """The raw query string without ``expires`` and ``sig``, the rest byte for byte."""
    kept = [part for part in query.split(b"&") if part and _key(part) not in SIGNATURE_PARAMS]
    return b"&".join(kept)


def _key(part: bytes) -> str:
    """The name of one ``name=value`` part of a raw query, decoded as ``parse_qsl`` does."""
    return unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))
