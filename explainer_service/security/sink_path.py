"""The request loggers' way in: ``POST /inferences/<secret>``, the secret never logged.

Loggers send no ``Authorization`` header, so with access control on they carry a secret in
the sink's URL path instead (``inference_log.sink_secret``). ``SinkPath``, the outermost
middleware, reads it before anything else sees the path: it compares it with the secret
in constant time, marks the request as ``admitted`` when it matches, and replaces it with
``{secret}`` in the path every later middleware, route and log line sees. Access control
lets an admitted request through without a token; the route answers 404 to any other.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/inferences/"
#: The path the sink's secret route is served on, and the one logs show.
SECRET_PATH = "/inferences/{secret}"
_ADMITTED = "sink_admitted"


class SinkPath:
    """See the module docstring; ``secret`` None: no path is admitted (each is still
    replaced, so nothing a logger sends in the path is logged)."""

    def __init__(self, app: ASGIApp, secret: str | None) -> None:
        self.app = app
        self.secret = secret.encode() if secret else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        given = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        if given and "/" not in given and scope["method"] == "POST":
            ok = self.secret is not None and hmac.compare_digest(given.encode(), self.secret)
            state = {**scope.get("state", {}), _ADMITTED: ok}
            scope = {**scope, "path": SECRET_PATH, "raw_path": SECRET_PATH.encode(), "state": state}
        await self.app(scope, receive, send)


def admitted(scope: Scope) -> bool:
    """The request came with the sink's secret in its path (``SinkPath``)."""
    return bool(scope.get("state", {}).get(_ADMITTED))
