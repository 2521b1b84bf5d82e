"""A counting proxy in front of the model server: what an explainer costs, seen at the model.

    python -m bench.proxy --port 9101 --upstream http://127.0.0.1:9100

Every request is forwarded unchanged; each ``POST .../infer`` is counted as one model call
with the rows of its first input (``shape[0]`` of an Open Inference Protocol request).
``GET /_bench/stats`` answers ``{"calls", "rows", "other"}`` so far; ``POST /_bench/reset``
sets them to zero. Each explainer gets its own proxy, so both are counted the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def rows_of(body: bytes) -> int:
    """Rows in an Open Inference Protocol request body (0 when it has none)."""
    try:
        inputs = json.loads(body).get("inputs") or []
        return int(inputs[0]["shape"][0])
    except (ValueError, AttributeError, LookupError, TypeError):
        return 0


def create_app(upstream: str, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The proxy app; ``transport`` replaces the network (tests)."""
    counts: dict[str, int] = {"calls": 0, "rows": 0, "other": 0}
    client = httpx.AsyncClient(
        base_url=upstream,
        timeout=300.0,
        limits=httpx.Limits(max_connections=64),
        transport=transport,
    )

    async def stats(request: Request) -> Response:
        return JSONResponse(counts)

    async def reset(request: Request) -> Response:
        counts.update(calls=0, rows=0, other=0)
        return JSONResponse(counts)

    async def forward(request: Request) -> Response:
        body = await request.body()
        if request.method == "POST" and request.url.path.endswith("/infer"):
            counts["calls"] += 1
            counts["rows"] += rows_of(body)
        else:
            counts["other"] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = await client.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=body,
            headers=headers,
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        kept.pop("content-encoding", None)  # httpx has decoded the body
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    routes: list[Any] = [
        Route("/_bench/stats", stats, methods=["GET"]),
        Route("/_bench/reset", reset, methods=["POST"]),
        Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the model server's base URL")
    args = parser.parse_args()
    uvicorn.run(create_app(args.upstream), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
