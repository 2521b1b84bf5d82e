"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from explainer_service.api import (
    batches,
    compare,
    explain,
    explanations,
    fairness,
    health,
    inferences,
    links,
    openapi,
    pages,
    sink,
    vocabulary,
    whatif,
)
from explainer_service.api import metrics as metrics_route
from explainer_service.api.deps import ERROR_RESPONSES
from explainer_service.batch.jobs import Batches, Runner
from explainer_service.batch.runner import run_batch
from explainer_service.compat import kserve_v1, seldon, v2
from explainer_service.compat.common import alibi_answer
from explainer_service.errors import (
    HANDLED,
    ConfigError,
    ModelError,
    QueueFullError,
    ShuttingDownError,
    StoreError,
    error_body,
    http_error,
)
from explainer_service.inferences.ingest import Ingest
from explainer_service.inferences.policy import Policy
from explainer_service.inferences.scheduler import PolicyScheduler
from explainer_service.inferences.token_bucket import TokenBucket
from explainer_service.observability.access_log import RequestIds
from explainer_service.render import render_error
from explainer_service.runtime import Runtime
from explainer_service.runtime.features import resolve_features
from explainer_service.runtime.window import read_window
from explainer_service.security import protect
from explainer_service.security.limits import BodySizeLimit
from explainer_service.security.sink_path import SinkPath
from explainer_service.service import Service
from explainer_service.settings import Settings, candidate_label
from explainer_service.store import open_configured_store
from explainer_service.workers import Pool
from explainers.validation import location, problems_text

log = logging.getLogger("explainer_service")

#: Where Swagger UI's and ReDoc's scripts and styles are served (open like every /static/ path).
DOCS_ASSETS = "/static/docs"
#: The pages that start them with an inline script (they get ``DOCS_POLICY``).
DOCS_PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")


def create_app(
    settings: Settings, *, pool: Pool | None = None, batch_runner: Runner | None = None
) -> FastAPI:
    """Build the service. Reads the reference data, checks the configuration and opens the
    store now (raises ``ConfigError``, ``StoreError``). Once it runs, it starts the worker
    processes, which fit the explainers, and checks the model in the background, so the
    service answers ``/health/live`` at once, even while the model is down; it stops them on
    shutdown.

    ``pool``: where explanations run; by default ``service.workers`` worker processes;
    ``batch_runner``: what runs ``POST /batches``, by default on Ray (tests pass stand-ins).

    The features are chosen first (``resolve_features``): that may ask the model for its
    metadata, waiting at most ``model.metadata_wait_s`` for a model that is not up yet."""
    settings = resolve_features(settings)
    store = open_configured_store(settings.service)
    try:  # data.window: the logged inferences are read once, here, for every worker
        runtime = Runtime(settings, window=read_window(settings, store))
        # models.candidate: the same rows and features, its own model (and cache keys)
        other = settings.candidate()
        candidate = (
            None
            if other is None
            else Runtime(
                other,
                reference=runtime.reference,
                window=runtime.window,
                announce=False,
                label=candidate_label(other.model),
            )
        )
    except BaseException:
        store.close()
        raise
    log.info("explanation store: %s", store.location)
    service = Service(settings, runtime, store, pool, candidate)
    try:
        policy = Policy(settings.inference_log.policy, runtime, store, service.metrics)
    except ConfigError:
        store.close()
        runtime.close()
        raise
    scheduler = PolicyScheduler(policy, service)
    jobs = Batches(settings, runtime, store, batch_runner or run_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(service.run_background())
        background = asyncio.create_task(scheduler.run()) if policy.active else None
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if background is not None:  # its jobs not finished are released
                scheduler.stop()
                await background
                await asyncio.to_thread(scheduler.close)
            await asyncio.to_thread(jobs.close)
            await asyncio.to_thread(service.close)  # waits for the workers to exit

    # /docs and /redoc load Swagger UI and ReDoc from the service (DOCS_ASSETS), not a CDN
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="explainer-service",
        description=f"Explanations for the model {settings.model.name!r}, a black box.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    # what the routes' dependencies read (explainer_service.api.deps)
    app.state.settings, app.state.runtime, app.state.store = settings, runtime, store
    app.state.service = service
    app.state.batches = jobs
    app.state.policy, app.state.policy_scheduler = policy, scheduler
    log_settings = settings.inference_log
    # the policy keeps what was logged and decides about it once a round
    ingest = Ingest(runtime, store, metrics=service.metrics, on_logged=policy.notice)
    app.state.ingest = ingest if log_settings.enabled else None
    app.state.sink_bucket = TokenBucket(log_settings.max_events_per_s)
    app.add_middleware(BodySizeLimit, max_bytes=settings.service.max_body_bytes)
    app.state.alibi_shape = partial(alibi_answer, runtime.schema.names, runtime.class_names)
    routers = (explain, explanations, batches, health, kserve_v1, seldon, v2, links, pages, sink)
    for module in (*routers, inferences, fairness, metrics_route, whatif, vocabulary):
        app.include_router(module.router)
    app.include_router(compare.router)
    openapi.document(
        app, runtime, v2_names=v2.explainer_names(settings.model.name, runtime.classes)
    )
    respond = _responder(settings.model.name)
    protect(
        app,
        settings.auth,
        respond,
        DOCS_PAGES,
        allowed_hosts=settings.service.allowed_hosts,
        decodes=_sink_path,
    )
    _install_error_handlers(app, respond)
    # the outermost: every answer carries the request id, and it answers unexpected errors
    app.add_middleware(
        RequestIds,
        on_error=lambda scope, exc: _internal(scope, exc, respond),
        on_done=service.metrics.answered,
    )
    # outside the access log: a logger's secret in the path is never logged
    secret = log_settings.sink_secret
    app.add_middleware(SinkPath, secret=secret.get_secret_value() if secret else None)
    return app


Responder = Callable[[Request, int, dict[str, Any]], Response]


def _sink_path(path: str) -> bool:
    """The inference log's sink (``POST /inferences``, ``/inferences/<secret>``), which reads
    gzip bodies itself (loggers send them)."""
    if path == "/inferences":
        return True
    secret = path.removeprefix("/inferences/")
    return secret != path and bool(secret) and "/" not in secret


def _responder(model_name: str) -> Responder:
    """Answers an error as JSON, or as a page when the route decided the client wants HTML."""

    def respond(request: Request, status: int, body: dict[str, Any]) -> Response:
        if getattr(request.state, "html", False):
            return HTMLResponse(render_error(status, body, model_name=model_name), status)
        return JSONResponse(body, status)

    return respond


def _internal(scope: Scope, exc: Exception, respond: Responder) -> Response:
    """The answer to an exception nothing handled (``RequestIds`` has logged it); the
    connection is closed, since what the request left unread is unknown."""
    status, body = http_error(exc)
    response = respond(Request(scope), status, body)
    response.headers["Connection"] = "close"
    return response


def _install_error_handlers(app: FastAPI, respond: Responder) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        field = (location(problems[0], skip=1) or None) if problems else None
        text = problems_text(problems, skip=1) or "invalid request"
        return respond(request, 422, error_body("invalid_request", text, {"field": field}))

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "http_error"
        response = respond(request, exc.status_code, error_body(code, str(exc.detail)))
        response.headers.update(exc.headers or {})
        return response

    # The errors the table names (and a worker's answer), answered here with their status.
    # Anything else (a bug, or an ExplainerError that is the service's own fault) reaches
    # RequestIds, which logs it with its traceback and answers a 500 with the request id.
    async def known_error(request: Request, exc: Exception) -> Response:
        status, body = http_error(exc)
        if isinstance(exc, ModelError | StoreError):  # the cause, for operators
            log.warning("%s (request id %s)", exc, body["error"].get("request_id"))
        response = respond(request, status, body)
        if isinstance(exc, QueueFullError | ShuttingDownError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    for handled in HANDLED:
        app.add_exception_handler(handled, known_error)
