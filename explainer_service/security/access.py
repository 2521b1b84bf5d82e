"""Access control: bearer tokens, a trusted header set by an auth proxy, signed links."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from explainer_service.errors import LinkSignatureError, UnauthorizedError
from explainer_service.security.refusal import Respond, refuse
from explainer_service.security.signing import LinkSigner, is_signed, strip_signature
from explainer_service.security.sink_path import admitted
from explainer_service.settings import SecuritySettings

#: Open whatever the configuration: probes, metrics, and the static scripts of the pages.
OPEN_PREFIXES = ("/health/", "/v2/health/", "/static/")
OPEN_PATHS = frozenset({"/metrics"})
#: A page's what-if editor is granted these POSTs by the query of a signed link to
#: ``GRANT_PATH`` that the page carries (``explainer_service.runtime.editor``).
GRANT_PATH = "/whatif"
GRANTED_POSTS = frozenset({"/whatif/predict", "/whatif/explain"})


class AccessControl:
    """Lets a request through when access control is off, when its path is open, when a
    request logger brought the sink's secret (``sink_path.admitted``), or when it carries
    ``Authorization: Bearer <one of security.tokens>`` or a non-empty
    ``auth.trusted_header``; else 401 with ``WWW-Authenticate: Bearer``.

    A GET or HEAD whose query has ``sig`` is judged by its signature alone (when links are
    signed): a valid one lets it through with ``expires`` and ``sig`` taken out of the query,
    so routes never see them; an altered or expired one is refused (403), token or not. A
    POST to one of ``GRANTED_POSTS`` whose query has ``sig`` is judged the same way, as a
    signed link to ``GRANT_PATH`` (the grant a page's what-if editor carries).
    """

    def __init__(
        self,
        app: ASGIApp,
        security: SecuritySettings,
        signer: LinkSigner | None,
        respond: Respond,
    ) -> None:
        self.app = app
        self.on = security.required
        self.tokens = [token.get_secret_value().encode() for token in security.tokens]
        header = security.trusted_header
        self.trusted_header = header.lower().encode() if header else None
        self.signer = signer
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope["query_string"]
        signed_as = _signed_as(scope["method"], scope["path"])
        if self.signer and signed_as is not None and is_signed(query):
            try:
                self.signer.verify(signed_as, query.decode("latin-1"))
            except LinkSignatureError as exc:
                await refuse(scope, receive, send, exc, self.respond)
                return
            await self.app({**scope, "query_string": strip_signature(query)}, receive, send)
            return
        if (
            not self.on
            or _is_open(scope["path"])
            or admitted(scope)  # a request logger with the sink's secret (``sink_path``)
            or self._authenticated(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        error = UnauthorizedError(
            "this service needs a bearer token (Authorization: Bearer <token>) or a signed link"
        )
        await refuse(scope, receive, send, error, self.respond, {"WWW-Authenticate": "Bearer"})

    def _authenticated(self, headers: list[tuple[bytes, bytes]]) -> bool:
        found = False
        for name, value in headers:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
                    for token in self.tokens:  # every one compared: no early answer to time
                        found |= hmac.compare_digest(token, given)
            elif name == self.trusted_header and value.strip():
                found = True
        return found


def _signed_as(method: str, path: str) -> str | None:
    """The path a signature on this request must be for: its own for a GET or HEAD,
    ``GRANT_PATH`` for a granted POST; None when a signature cannot admit it."""
    if method in ("GET", "HEAD"):
        return path
    if method == "POST" and path in GRANTED_POSTS:
        return GRANT_PATH
    return None


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
