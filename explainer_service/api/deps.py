"""What routers share: typed dependencies, request bodies, and the error answers.

The dependencies read what ``create_app`` keeps on ``app.state``; a route takes them as
``Annotated`` parameters (``SettingsDep``, ``RuntimeDep``, ...), and tests may replace any of
them with ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut, error_responses
from explainer_service.batch.jobs import Batches
from explainer_service.inferences.ingest import Ingest
from explainer_service.inferences.scheduler import PolicyScheduler
from explainer_service.inferences.token_bucket import TokenBucket
from explainer_service.render import LinkFor
from explainer_service.runtime import Runtime
from explainer_service.security.json_body import MAX_JSON_DEPTH, parse_json
from explainer_service.service import Service
from explainer_service.settings import Settings
from explainer_service.store import Store
from explainers import Explanation

#: Query parameters of /explain that are not parameters of the method.
RESERVED = frozenset({"method", "format", "mode", "instance", "payload", "dry_run"})
DryRun = Annotated[
    bool,
    Query(description="validate the request and answer what it may cost; nothing runs"),
]

#: The error answers every route may give (``ErrorBody``), for the OpenAPI document.
ERROR_RESPONSES = error_responses()

__all__ = ["ERROR_RESPONSES", "MAX_JSON_DEPTH", "ExplanationOut", "parse_json"]


def _on_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that answers ``app.state.<name>``, which ``create_app`` sets (a
    coroutine: FastAPI would run a plain function in its thread pool, a hand-over each)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = dependency.__qualname__ = f"get_{name}"
    return dependency


#: An explanation in alibi's ``{"meta", "data"}`` shape (``format=alibi``), with its id and
#: links: ``compat.common.alibi_answer``, given by the app, since ``compat`` is the layer above
AlibiShape = Callable[[str, Explanation, LinkFor], AlibiExplanation]

#: the configuration, with the features ``create_app`` chose
get_settings: Callable[[Request], Awaitable[Settings]] = _on_state("settings")
#: what the configuration built: the feature schema, the codec, the methods
get_runtime: Callable[[Request], Awaitable[Runtime]] = _on_state("runtime")
#: the explanation store (blocking: call it from a thread)
get_store: Callable[[Request], Awaitable[Store]] = _on_state("store")
#: tickets, results, readiness and metrics of the explanations
get_service: Callable[[Request], Awaitable[Service]] = _on_state("service")
get_batches: Callable[[Request], Awaitable[Batches]] = _on_state("batches")
get_alibi_shape: Callable[[Request], Awaitable[AlibiShape]] = _on_state("alibi_shape")
#: the inference log's sink; None when ``inference_log.enabled`` is false
get_ingest: Callable[[Request], Awaitable[Ingest | None]] = _on_state("ingest")
#: ``inference_log.max_events_per_s``
get_sink_bucket: Callable[[Request], Awaitable[TokenBucket]] = _on_state("sink_bucket")
#: the explanation policy's background jobs (``explainer_service.inferences.scheduler``)
get_policy_scheduler: Callable[[Request], Awaitable[PolicyScheduler]] = _on_state(
    "policy_scheduler"
)
#: what every printed link goes through (``explainer_service.security.UrlBuilder``)
get_link: Callable[[Request], Awaitable[LinkFor]] = _on_state("link")

SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StoreDep = Annotated[Store, Depends(get_store)]
ServiceDep = Annotated[Service, Depends(get_service)]
BatchesDep = Annotated[Batches, Depends(get_batches)]
PolicySchedulerDep = Annotated[PolicyScheduler, Depends(get_policy_scheduler)]
AlibiShapeDep = Annotated[AlibiShape, Depends(get_alibi_shape)]
LinkDep = Annotated[LinkFor, Depends(get_link)]
IngestDep = Annotated[Ingest | None, Depends(get_ingest)]
SinkBucketDep = Annotated[TokenBucket, Depends(get_sink_bucket)]


def method_params(request: Request, also: Collection[str] = ()) -> dict[str, Any]:
    """Query parameters that are method parameters, as text: the method's parameters read
    each value by its type (``explainers.text_values``), so ``desired_class=1`` is the
    class ``"1"`` and ``total=5`` the number 5. ``also``: the route's own parameters
    besides ``RESERVED`` (elsewhere they are refused as unknown method parameters)."""
    return {k: v for k, v in request.query_params.items() if k not in RESERVED and k not in also}
