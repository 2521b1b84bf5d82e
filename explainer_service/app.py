"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from explainer_service.api import compat, explain, explanations, health, links, pages
from explainer_service.errors import ExplainerServiceError, QueueFullError, http_error
from explainer_service.limits import BodySizeLimit
from explainer_service.render import render_error
from explainer_service.runtime import Runtime
from explainer_service.security import Respond, protect
from explainer_service.service import Service
from explainer_service.settings import Settings
from explainer_service.store import Store
from explainers import ExplainerError

log = logging.getLogger("explainer_service")


def create_app(settings: Settings) -> FastAPI:
    """Build the service. Reads the reference data and checks the configuration now (raises
    ``ConfigError``). Once it runs, it starts the worker processes, which fit the
    explainers, and checks the model in the background, so the service answers
    ``/health/live`` at once, even while the model is down; it stops them on shutdown."""
    runtime = Runtime(settings)
    service = Service(settings, runtime, Store(settings.service.store))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(service.run_background())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(service.close)  # waits for the workers to exit

    app = FastAPI(
        title="explainer-service",
        description=f"Explanations for the model {settings.model.name!r}, a black box.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(BodySizeLimit, max_bytes=settings.service.max_body_bytes)
    respond = _responder(settings.model.name)
    protect(app, settings.auth, respond)
    for module in (explain, explanations, health, compat, links, pages):
        app.include_router(module.router)
    _install_error_handlers(app, respond)
    return app


def _responder(model_name: str) -> Respond:
    """An error answer: the HTML error page when the route set ``request.state.html``."""

    def respond(request: Request, status: int, body: dict[str, Any]) -> Response:
        if getattr(request.state, "html", False):
            return HTMLResponse(render_error(status, body, model_name=model_name), status)
        return JSONResponse(body, status)

    return respond


def _install_error_handlers(app: FastAPI, respond: Respond) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"][1:]) or None
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in problems)
        body = {"error": {"code": "invalid_request", "message": text, "detail": {"field": field}}}
        return respond(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "http_error"
        body = {"error": {"code": code, "message": str(exc.detail), "detail": {}}}
        return respond(request, exc.status_code, body)

    # Errors raised on purpose are answered by Starlette's ExceptionMiddleware, which ends the
    # request there. A handler for `Exception` runs in ServerErrorMiddleware instead, which
    # re-raises after answering: uvicorn then drops the kept-alive connection, so that
    # handler is left to the unexpected errors and says `Connection: close`.
    @app.exception_handler(ExplainerServiceError)
    @app.exception_handler(ExplainerError)
    async def known_error(request: Request, exc: Exception) -> Response:
        status, body = http_error(exc)
        response = respond(request, status, body)
        if isinstance(exc, QueueFullError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception) -> Response:
        status, body = http_error(exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = respond(request, status, body)
        response.headers["Connection"] = "close"
        return response
