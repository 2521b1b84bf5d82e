"""What routers share: typed dependencies, request bodies, and the error answers.

The dependencies read what ``create_app`` keeps on ``app.state``; a route takes them as
``Annotated`` parameters (``SettingsDep``, ``RuntimeDep``, ...), and tests may replace any of
them with ``app.dependency_overrides``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from explainer_service.api.bodies import AlibiExplanation, ExplanationOut, error_responses
from explainer_service.batch.jobs import Batches
from explainer_service.errors import MalformedJsonError, PayloadError
from explainer_service.inferences.scheduler import PolicyScheduler
from explainer_service.render import LinkFor
from explainer_service.runtime import Runtime
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

__all__ = ["ERROR_RESPONSES", "ExplanationOut"]


def _on_state(name: str) -> Callable[[Request], Any]:
    """A dependency that answers ``app.state.<name>``, which ``create_app`` sets."""

    def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = dependency.__qualname__ = f"get_{name}"
    return dependency


#: An explanation in alibi's ``{"meta", "data"}`` shape (``format=alibi``), with its id and
#: links: ``compat.common.alibi_answer``, given by the app, since ``compat`` is the layer above
AlibiShape = Callable[[str, Explanation, LinkFor], AlibiExplanation]

#: the configuration, with the features ``create_app`` chose
get_settings: Callable[[Request], Settings] = _on_state("settings")
#: what the configuration built: the feature schema, the codec, the methods
get_runtime: Callable[[Request], Runtime] = _on_state("runtime")
#: the explanation store (blocking: call it from a thread)
get_store: Callable[[Request], Store] = _on_state("store")
#: tickets, results, readiness and metrics of the explanations
get_service: Callable[[Request], Service] = _on_state("service")
get_batches: Callable[[Request], Batches] = _on_state("batches")
#: the explanation policy's background jobs (``explainer_service.inferences.scheduler``)
get_policy_scheduler: Callable[[Request], PolicyScheduler] = _on_state("policy_scheduler")
get_alibi_shape: Callable[[Request], AlibiShape] = _on_state("alibi_shape")
#: what every printed link goes through (``explainer_service.security.UrlBuilder``)
get_link: Callable[[Request], LinkFor] = _on_state("link")

SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StoreDep = Annotated[Store, Depends(get_store)]
ServiceDep = Annotated[Service, Depends(get_service)]
BatchesDep = Annotated[Batches, Depends(get_batches)]
PolicySchedulerDep = Annotated[PolicyScheduler, Depends(get_policy_scheduler)]
AlibiShapeDep = Annotated[AlibiShape, Depends(get_alibi_shape)]
LinkDep = Annotated[LinkFor, Depends(get_link)]


#: The default of ``service.max_json_depth`` (a v2 tensor's data nests about 5 deep).
MAX_JSON_DEPTH = 32


def parse_json(text: str | bytes, what: str = "the body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of ``text``; 400 when it is not JSON, 422 when it nests deeper than
    ``max_depth`` (the decoders that read it recurse)."""
    if not text:
        raise PayloadError(f"{what} is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJsonError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise MalformedJsonError(f"{what} is not UTF-8 text") from None
    except ValueError as exc:  # an integer of more digits than Python reads (4300)
        raise PayloadError(f"{what} holds a number that cannot be read: {exc}") from None
    except RecursionError:
        value = None  # deeper than the parser goes: certainly deeper than allowed
    else:
        if _depth(value, max_depth) <= max_depth:
            return value
    raise PayloadError(f"{what} nests deeper than {max_depth} levels (service.max_json_depth)")


def _depth(value: Any, limit: int) -> int:
    """How deep arrays and objects nest in ``value``, up to ``limit`` + 1 (iterative: no
    recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def method_params(request: Request) -> dict[str, Any]:
    """Query parameters that are method parameters, as text: the method's parameters read
    each value by its type (``explainers.text_values``), so ``desired_class=1`` is the
    class ``"1"`` and ``total=5`` the number 5."""
    return {k: v for k, v in request.query_params.items() if k not in RESERVED}
