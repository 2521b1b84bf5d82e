"""Each JSON answer of each route is the model the route declares for its status, key for
key, so the OpenAPI document, generated from those models, is what clients get.

The application is the real one in this process (``tests.helpers.inprocess``) with a
stand-in worker: one whose model answers (ready), one whose model is down (not ready, and
its worker held, so that a drill-down is still running when it answers). Each case asks
for one shape; ``test_every_declared_shape_is_asked_for`` keeps the cases complete as
routes and models are added. The same answers against the document itself, fuzzed:
``test_openapi_fuzz.py``.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from examples.income import paths
from explainer_service.api.batches import BatchOut
from explainer_service.api.bodies import (
    AlibiExplanation,
    AlibiExplanationList,
    ExplanationList,
    ExplanationOut,
    Liveness,
    LoggedEvent,
    Pending,
    PendingList,
    Readiness,
    Summary,
)
from explainer_service.api.deps import get_settings
from explainer_service.api.dry_run import DryRunOut
from explainer_service.api.inference_bodies import (
    InferenceExplanationOut,
    InferenceOut,
    InferencePending,
    InferenceSummary,
)
from explainer_service.api.vocabulary import VocabularyOut
from explainer_service.api.whatif_bodies import WhatIfExplanation, WhatIfPrediction
from explainer_service.comparison import Comparison, WindowComparison
from explainer_service.compat.bodies import (
    V2Live,
    V2ModelMetadata,
    V2Ready,
    V2Response,
    V2ServerMetadata,
)
from explainer_service.errors import ErrorBody
from explainer_service.inferences.parity import ParityReport
from explainer_service.store.inferences import LoggedSide
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.logger_events import kserve_event, message
from tests.helpers.openapi_answers import answer_objects
from tests.helpers.web import HTTP

PAYLOADS = paths.PAYLOADS
V2 = json.loads((PAYLOADS / "v2.json").read_text())  # two rows
KSERVE = json.loads((PAYLOADS / "kserve-v1.json").read_text())
SELDON = json.loads((PAYLOADS / "seldon.json").read_text())
RECORD = json.loads((PAYLOADS / "records.json").read_text())[0]
ONE = json.dumps({"instances": [RECORD]})
ALL = {"instance": "all"}
#: KServe's logger's event of the V2 request: its attributes (the body is ``V2``)
LOGGED = message(kserve_event("request", V2, "logged-1"))


@dataclass(frozen=True)
class Case:
    """``method`` ``route`` (as declared; ``url``: its ``{}`` filled from ``Apps.ids``)
    answers ``status`` with a ``model`` body."""

    method: str
    route: str
    status: int
    model: Any
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    down: bool = False  # asked of the application whose model is down
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = getattr(self.model, "__name__", str(self.model))
        params = "&".join(f"{k}={v}" for k, v in self.params.items() if k != "payload")
        return f"{self.method} {self.route} {self.status} {shown} {params}".strip()


def _explain(status: int, model: Any, **params: str) -> Case:
    return Case("POST", "/explain", status, model, params, V2)


def _drilldown(status: int, model: Any, down: bool = False, **params: str) -> Case:
    return Case("GET", "/explain", status, model, {"payload": ONE, **params}, down=down)


def _compat(route: str, body: Any, url: str = "") -> list[Case]:
    """alibi's shape (the default), ours and a dry run."""
    shapes = [
        (AlibiExplanation, {}),
        (ExplanationOut, {"format": "json"}),
        (DryRunOut, {"dry_run": "true"}),
    ]
    return [Case("POST", route, 200, model, params, body, url=url) for model, params in shapes]


def _v2(method: str, tail: str, status: int, model: Any, **options: Any) -> Case:
    """A route of the model (``/v2/models/{name}<tail>``), called by its explainer name."""
    route, url = f"/v2/models/{{name}}{tail}", f"/v2/models/{{explainer}}{tail}"
    return Case(method, route, status, model, url=url, **options)


CASES = [
    Case("GET", "/health/live", 200, Liveness),
    Case("GET", "/health/ready", 200, Readiness),
    Case("GET", "/health/ready", 503, Readiness, down=True),
    _explain(200, ExplanationOut),
    _explain(200, ExplanationList, **ALL),
    _explain(200, AlibiExplanation, format="alibi"),
    _explain(200, AlibiExplanationList, format="alibi", **ALL),
    _explain(200, DryRunOut, dry_run="true"),
    _explain(202, Pending, mode="async"),
    _explain(202, PendingList, mode="async", **ALL),
    _drilldown(200, ExplanationOut, format="json"),
    _drilldown(200, AlibiExplanation, format="alibi"),
    _drilldown(200, DryRunOut, dry_run="true"),
    _drilldown(202, Pending, down=True, format="json"),
    _explain(200, Comparison, compare="candidate"),
    _drilldown(200, Comparison, compare="candidate", format="json"),
    Case("GET", "/compare/inferences", 200, WindowComparison, {"window": "7d"}),
    Case("GET", "/explanations/{id}", 200, ExplanationOut, url="/explanations/{done}"),
    Case("GET", "/explanations/{id}", 200, Summary, url="/explanations/{failed}"),
    Case("GET", "/explanations", 200, list[Summary]),
    Case("POST", "/batches", 202, BatchOut, body={"method": "shap", "rows": [V2]}),
    Case("GET", "/batches/{id}", 200, BatchOut, url="/batches/{batch}"),
    Case("GET", "/links", 200, dict[str, str], {"payload": ONE}),
    *_compat("/v1/models/{name}:explain", KSERVE, url="/v1/models/{model}:explain"),
    *_compat("/api/v1.0/explain", SELDON),
    Case("GET", "/v2", 200, V2ServerMetadata),
    Case("GET", "/v2/health/live", 200, V2Live),
    Case("GET", "/v2/health/ready", 200, V2Ready),
    Case("GET", "/v2/health/ready", 400, V2Ready, down=True),
    _v2("GET", "", 200, V2ModelMetadata),
    _v2("GET", "/ready", 200, V2Ready),
    _v2("GET", "/ready", 400, V2Ready, down=True),
    _v2("POST", "/infer", 200, V2Response, body=V2),
    _v2("POST", "/infer", 200, DryRunOut, body=V2, params={"dry_run": "true"}),
    Case("GET", "/inferences", 200, list[InferenceSummary]),
    Case("GET", "/inferences/{id:inference_id}", 200, InferenceOut, url="/inferences/{inference}"),
    *[
        Case(method, "/inferences/{id:inference_id}/explain", status, model, params, down=down,
             url="/inferences/{inference}/explain")
        for method, status, model, params, down in (
            ("POST", 200, InferenceExplanationOut, {}, False),
            ("POST", 202, InferencePending, {"mode": "async"}, False),
            ("GET", 200, InferenceExplanationOut, {"format": "json"}, False),
            ("GET", 202, InferencePending, {"format": "json"}, True),
        )
    ],
    Case("POST", "/inferences", 200, LoggedEvent, body=V2, headers=LOGGED.headers),
    Case("GET", "/fairness", 200, ParityReport, {"attribute": "gender"}),
    Case("POST", "/whatif/predict", 200, WhatIfPrediction, body={"values": RECORD}),
    Case("POST", "/whatif/explain", 200, WhatIfExplanation, body={"values": RECORD}),
    Case("GET", "/vocabulary", 200, VocabularyOut),
]  # fmt: skip


def _logged(answered: bool) -> list[LoggedSide]:
    """The sides of the inference ``logged/0`` (the first row of an event of two): the
    request, and the answer when ``answered``."""
    common = {"id": "logged/0", "event_id": "logged", "row_index": 0, "row_count": 2,
              "source": "kserve", "model": "income"}  # fmt: skip
    sides = [LoggedSide(**common, side="request", instance=list(RECORD.values()))]
    if answered:
        sides.append(LoggedSide(**common, side="response", answer={"scores": [0.9, 0.1]}))
    return sides


@dataclass
class Apps:
    ready: tuple[FastAPI, str]
    down: tuple[FastAPI, str]
    ids: dict[str, str]


@pytest.fixture(scope="module")
def apps(income_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    ready_dir, down_dir = tmp_path_factory.mktemp("ready"), tmp_path_factory.mktemp("down")
    ready, down = fake_app(ready_dir, income_server), fake_app(down_dir)
    ready.state.store.log_inferences(_logged(answered=True))
    down.state.store.log_inferences(_logged(answered=False))  # the model is not asked again
    # a drill-down that does not wait: it answers 202 while the held worker has the task
    settings = down.state.settings
    quick = settings.service.model_copy(update={"drilldown_wait_s": 0.0})
    down.dependency_overrides[get_settings] = lambda: settings.model_copy(update={"service": quick})
    with served(ready) as ready_url, served(down) as down_url:
        wait_for_worker(ready, ready=True)
        wait_for_worker(down)
        (down_dir / "open").unlink()  # the stand-in worker holds every task from now on
        try:
            yield Apps((ready, ready_url), (down, down_url), _ids(ready_url))
        finally:
            (down_dir / "open").touch()


def _ids(base: str) -> dict[str, str]:
    """Ids of a done explanation, a failed one and a batch, and the model's names."""
    done = HTTP.post(f"{base}/explain", json=V2, timeout=60).raise_for_status()
    # the stand-in worker fails seed 13
    failed = HTTP.post(f"{base}/explain?mode=async&seed=13", json=V2, timeout=60)
    batch = HTTP.post(f"{base}/batches", json={"rows": [V2]}, timeout=60)
    return {
        "done": done.json()["id"],
        "failed": failed.raise_for_status().json()["id"],
        "batch": batch.raise_for_status().json()["id"],
        "model": "income",
        "explainer": "income-explainer",
        "inference": "logged%2F0",
    }


def _members(model: Any) -> tuple[Any, ...]:
    """The models of a union (``A | B``), or the model itself."""
    if typing.get_origin(model) in (types.UnionType, typing.Union):
        return typing.get_args(model)
    return (model,)


def declared(route: APIRoute) -> set[tuple[int, Any]]:
    """(status, model) for every answer ``route`` declares, errors apart."""
    found = set()
    if route.response_model is not None:
        found |= {(route.status_code or 200, m) for m in _members(route.response_model)}
    for status, response in route.responses.items():
        model = response.get("model")
        if model is not None and model is not ErrorBody:
            found |= {(int(status), m) for m in _members(model)}
    return found


def api_routes(app: FastAPI) -> list[APIRoute]:
    """The application's routes as declared, however FastAPI keeps included routers."""
    contexts = getattr(routing, "iter_route_contexts", None)  # FastAPI 0.165 nests them
    routes = [c.original_route for c in contexts(app.routes)] if contexts else app.routes
    return [r for r in routes if isinstance(r, APIRoute) and r.include_in_schema]


def _route(app: FastAPI, method: str, path: str) -> APIRoute:
    (route,) = [r for r in api_routes(app) if r.path == path and method in r.methods]
    return route


def test_every_declared_shape_is_asked_for(apps: Apps) -> None:
    app, _ = apps.ready
    documented = {
        (method, route.path, status, model)
        for route in api_routes(app)
        for method in route.methods
        for status, model in declared(route)
    }
    asked = {(case.method, case.route, case.status, case.model) for case in CASES}
    assert asked == documented


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_answer_is_the_declared_model(apps: Apps, case: Case) -> None:
    app, base = apps.down if case.down else apps.ready
    url = base + (case.url or case.route).format(**apps.ids)
    answer = HTTP.request(
        case.method, url, params=case.params, json=case.body, headers=case.headers, timeout=60
    )
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert (case.status, case.model) in declared(_route(app, case.method, case.route))
    adapter: TypeAdapter[Any] = TypeAdapter(case.model)
    body = answer.json()
    # every key declared (the models refuse others), and none lost or changed on the way
    assert adapter.dump_python(adapter.validate_python(body), mode="json") == body


def test_every_answer_schema_is_closed(apps: Apps) -> None:
    """The document says of every object a success answer holds whether it may hold more
    keys (``additionalProperties``), so that clients and validators can be strict."""
    app, _ = apps.ready
    open_ended = [
        schema.get("title", sorted(schema["properties"]))
        for schema in answer_objects(app.openapi(), lambda status: status < 400)
        if "additionalProperties" not in schema
    ]
    assert open_ended == []
