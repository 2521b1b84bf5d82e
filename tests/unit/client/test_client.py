"""The notebook client's logic with ``httpx.MockTransport``: request bodies, answers, errors,
polling and batches. tests/integration/test_client.py runs it against the live service."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from html import escape
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from explainer_service.client import (
    AsyncExplainerClient,
    ExplainerClient,
    Explanation,
    ForbiddenError,
    InvalidRequestError,
    ModelError,
    NotFoundError,
    NotReadyError,
    QueueFullError,
    ServerFaultError,
    ServiceError,
    ServiceUnreachableError,
    UnauthorizedError,
    WaitTimeoutError,
)
from explainer_service.presentation.inputs import request_body
from explainer_service.presentation.vocabulary import Vocabulary
from tests.helpers.fairness_report import PARITY_REPORT
from tests.helpers.render_factories import INSTANCE, anchors, counterfactual, counterfactuals, shap
from tests.helpers.support import ROOT

BASE = "http://explainer.test"
Handler = Callable[[httpx.Request], httpx.Response]


def answer(explanation: Any, id: str = "abc") -> dict[str, Any]:
    links = {"json": f"/explanations/{id}", "html": f"/explanations/{id}?format=html"}
    return {**explanation.model_dump(mode="json"), "id": id, "links": links}


def error(status: int, code: str, message: str = "wrong", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "detail": {"field": "age"}}}
    return httpx.Response(status, json=body, headers={"X-Request-ID": "rid-1", **headers})


def client_for(handler: Handler, **kwargs: Any) -> ExplainerClient:
    """A client given words (else it first asks the service for its own: ``test_words``)."""
    kwargs.setdefault("words", Vocabulary())
    return ExplainerClient(BASE, transport=httpx.MockTransport(handler), **kwargs)


def sent(request: httpx.Request) -> dict[str, Any]:
    return dict(json.loads(request.content))


# --- what is sent --------------------------------------------------------------------------


def test_a_record_in_every_form_is_sent_as_instances() -> None:
    frame = pd.DataFrame([{"age": np.int64(39), "hours": np.float64(40.5), "job": "Sales"}])
    expected = {"instances": [{"age": 39, "hours": 40.5, "job": "Sales"}]}
    for x in (frame, frame.iloc[0], {"age": 39, "hours": 40.5, "job": "Sales"}):
        body = request_body(x, {"seed": 1})
        assert body == {"payload": expected, "parameters": {"seed": 1}}
        assert type(body["payload"]["instances"][0]["age"]) is int


def test_a_payload_is_sent_as_it_is_and_missing_values_as_null() -> None:
    v2 = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}
    assert request_body(v2, {}, instance=0) == {"payload": v2, "parameters": {}, "instance": 0}
    assert request_body([INSTANCE], {})["payload"] == [INSTANCE]
    assert request_body(None, {})["payload"] is None
    series = pd.Series({"age": np.nan, "job": pd.NA})
    assert request_body(series, {})["payload"] == {"instances": [{"age": None, "job": None}]}


def test_explain_sends_the_method_parameters_and_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer(shap()))

    with client_for(handler, token="t0ken") as client:
        explanation = client.explain(INSTANCE, "shap", seed=3, nsamples=100)
    (request,) = seen
    assert request.url.path == "/explain" and request.url.params["method"] == "shap"
    assert "mode" not in request.url.params
    assert request.headers["authorization"] == "Bearer t0ken"
    assert sent(request) == {
        "payload": {"instances": [INSTANCE]},
        "parameters": {"seed": 3, "nsamples": 100},
    }
    assert isinstance(explanation, Explanation) and explanation.id == "abc"
    assert explanation.url == f"{BASE}/explanations/abc?format=html"


# --- answers -------------------------------------------------------------------------------


def test_an_explanation_renders_and_tabulates_each_method() -> None:
    cases = {
        "anchors": anchors(0.3),
        "shap": shap(),
        "counterfactual": counterfactuals(counterfactual(**{"hours-per-week": (40, 50)})),
    }
    for method, library in cases.items():
        explanation = Explanation.from_answer(answer(library), BASE)
        assert explanation.as_library() == library
        html = explanation._repr_html_()
        assert f'data-method="{method}"' in html and "Plotly.newPlot" in html
        assert escape(explanation.summary) in html
        assert len(explanation.to_frame()) > 0
    frame = Explanation.from_answer(answer(cases["counterfactual"]), BASE).to_frame()
    assert frame[["feature", "value", "change"]].values.tolist() == [["hours-per-week", 40, 50]]


def test_text_in_the_html_is_escaped() -> None:
    hostile = shap().model_copy(update={"method": "<b>x</b>"})
    html = Explanation.from_answer(answer(hostile), BASE)._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "malformed_json", InvalidRequestError),
        (413, "body_too_large", InvalidRequestError),
        (422, "unknown_category", InvalidRequestError),
        (401, "unauthorized", UnauthorizedError),
        (403, "link_expired", ForbiddenError),
        (404, "not_found", NotFoundError),
        (502, "model_error", ModelError),
        (503, "model_unavailable", ModelError),
        (503, "not_ready", NotReadyError),
        (504, "model_timeout", ModelError),
        (504, "deadline_exceeded", ServerFaultError),
        (500, "worker_crashed", ServerFaultError),
    ],
)
def test_error_answers_raise_typed_exceptions(
    status: int, code: str, kind: type[ServiceError]
) -> None:
    with (
        client_for(lambda request: error(status, code, "it is wrong")) as client,
        pytest.raises(kind) as caught,
    ):
        client.explain(INSTANCE, "shap")
    e = caught.value
    assert (e.status, e.code, e.message, e.request_id) == (status, code, "it is wrong", "rid-1")
    assert e.detail == {"field": "age"}
    assert str(e) == f"it is wrong (HTTP {status} {code}, request rid-1)"


def test_an_answer_not_in_the_services_shape_keeps_its_text() -> None:
    with (
        client_for(lambda request: httpx.Response(502, text="Bad Gateway from a proxy")) as client,
        pytest.raises(ModelError) as caught,
    ):
        client.explain(INSTANCE)
    assert caught.value.code == "http_error" and "Bad Gateway from a proxy" in str(caught.value)


def test_a_full_queue_is_asked_again_after_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("explainer_service.client._client.time.sleep", lambda s: None)
    answers = iter([error(429, "queue_full", **{"Retry-After": "2"}), None])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers) or httpx.Response(200, json=answer(shap()))

    with client_for(handler) as client:
        assert client.explain(INSTANCE, "shap").method == "shap"
    with (
        client_for(lambda request: error(429, "queue_full", **{"Retry-After": "2"})) as client,
        pytest.raises(QueueFullError) as caught,
    ):
        client.explain(INSTANCE, "shap")
    assert caught.value.retry_after == 2


def test_a_connection_refused_raises_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with client_for(handler) as client, pytest.raises(ServiceUnreachableError):
        client.explain(INSTANCE)


# --- polling and batches -------------------------------------------------------------------


class FakeService:
    """``mode=async`` answers: rows whose age is in ``stored`` are done at once, the others
    pending for ``polls`` GETs; an age in ``bad`` is refused with 422; a negative age fails
    (the model was unavailable)."""

    def __init__(self, stored: set[int], bad: set[int] = frozenset(), polls: int = 2) -> None:
        self.stored, self.bad, self.polls = stored, bad, polls
        self.gets: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            record = sent(request)["payload"]["instances"][0]
            age = record["age"]
            if age in self.bad:
                return error(422, "invalid_instance")
            status = "done" if age in self.stored else "pending"
            return httpx.Response(202, json={"id": f"id-{age}", "status": status, "links": {}})
        id = request.url.path.rsplit("/", 1)[1]
        age = int(id.split("-", 1)[1])
        self.gets[id] = self.gets.get(id, 0) + 1
        if age < 0:
            failed = {"code": "model_unavailable", "message": "down", "status": 503}
            return httpx.Response(200, json={"id": id, "status": "failed", "error": failed})
        if age in self.stored or self.gets[id] > self.polls:
            body = answer(shap().model_copy(update={"instance": {**INSTANCE, "age": age}}), id)
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"id": id, "status": "running"})


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("explainer_service.client._client.POLL_S", 0.0)


def test_explain_many_fetches_stored_rows_polls_the_others_and_collects_errors(
    no_wait: None,
) -> None:
    service = FakeService(stored={30, 31}, bad={33})
    data = pd.DataFrame([{**INSTANCE, "age": age} for age in (30, 31, 32, 33, -1)])
    data.index = list("abcde")
    with client_for(service) as client:
        batch = client.explain_many(data, "shap", concurrency=2, progress=False)
    assert (batch.stored, batch.computed) == (2, 1)
    assert set(batch.errors) == {"d", "e"}
    assert batch.errors["d"].code == "invalid_instance"
    assert (batch.errors["e"].status, batch.errors["e"].code) == (503, "model_unavailable")
    assert isinstance(batch.errors["e"], ModelError)
    assert [e and e.instance["age"] for e in batch] == [30, 31, 32, None, None]
    assert service.gets == {"id-30": 1, "id-31": 1, "id-32": 3, "id--1": 1}
    frame = batch.to_frame()
    assert list(frame.index) == list("abcde")
    assert frame.loc["c", "id"] == "id-32" and frame.loc["d", "code"] == "invalid_instance"
    assert frame.loc["a", "hours-per-week"] == pytest.approx(0.05)


def test_the_async_batch_answers_as_the_blocking_one(no_wait: None) -> None:
    data = [{**INSTANCE, "age": age} for age in (30, 31, 33)]

    async def run() -> Any:
        transport = httpx.MockTransport(FakeService(stored={30}, bad={33}))
        async with AsyncExplainerClient(BASE, transport=transport, words=Vocabulary()) as client:
            return await client.explain_many(data, "shap", concurrency=2, progress=False)

    batch = asyncio.run(run())
    assert (batch.stored, batch.computed, list(batch.errors)) == (1, 1, [2])


def test_waiting_longer_than_the_timeout_raises_with_the_id(no_wait: None) -> None:
    with client_for(FakeService(stored=set(), polls=10**9), timeout=0.05) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            client.get("id-40")
        assert client.get("id-40", wait=False) is None
    assert caught.value.id == "id-40"


# --- the light import ----------------------------------------------------------------------

#: What the client must not load: the explanation engines, the web server, and what only
#: the server installs.
SERVER_ONLY = [
    "alibi",
    "shap",
    "dice_ml",
    "eli5",
    "sklearn",
    "scipy",
    "ray",
    "xgboost",
    "torch",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "yaml",
    "pydantic_settings",
]


def test_the_client_and_its_rendering_load_no_server_module() -> None:
    """Importing the client loads neither numpy nor pandas; explaining, rendering and
    tabulating (pandas, plotly) load nothing of the server."""
    script = f"""
import json, sys
import explainer_service.client as client
light = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "pandas", "plotly"))
e = client.Explanation.from_answer(json.loads(sys.stdin.read()), "http://x")
e._repr_html_(); e.to_frame()
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({SERVER_ONLY!r}))
print(json.dumps({{"on_import": light, "server": loaded}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(answer(shap())),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"on_import": [], "server": []}


# --- fairness ------------------------------------------------------------------------------


def parity_report() -> dict[str, Any]:
    """A ``GET /fairness`` answer (a copy: a test may change it)."""
    return copy.deepcopy(PARITY_REPORT)


def test_fairness_asks_for_the_attribute_and_shows_the_page_s_sentence() -> None:
    seen: list[httpx.Request] = []
    report = parity_report()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=report)

    words = Vocabulary(classes={">50K": "approved"}, subject="applicant", subjects="applicants")
    with client_for(handler, token="t0ken", words=words) as client:
        fairness = client.fairness("gender", window="12h")
    (request,) = seen
    assert (request.method, request.url.path) == ("GET", "/fairness")
    assert dict(request.url.params) == {"attribute": "gender", "window": "12h", "format": "json"}
    assert request.headers["authorization"] == "Bearer t0ken"
    assert fairness.report == report and fairness["disparate_impact"] == 0.4
    assert fairness.url == f"{BASE}/fairness?attribute=gender&window=12h&format=html"
    frame = fairness.to_frame()
    assert list(frame.index) == ["Male", "<Female>"] and frame.index.name == "gender"
    assert frame.loc["<Female>", "rate"] == 0.2 and not frame.loc["<Female>", "four_fifths"]
    assert fairness.sentence == (
        "Approved for 20% of <Female> applicants and 50% of Male applicants: a ratio of "
        "0.40, below the four-fifths rule (0.80)."
    )
    html = fairness._repr_html_()
    assert escape(fairness.sentence) in html and "<Female>" not in html
    assert "3 of 10 explained applicants" in html and escape(fairness.url) in html


def test_fairness_errors_raise_typed_exceptions_in_both_clients() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(422, "invalid_payload", "window: 'a week' is not a number and a unit")

    with client_for(handler) as client, pytest.raises(InvalidRequestError) as refused:
        client.fairness("gender", window="a week")
    assert "window" in str(refused.value)

    async def run() -> Any:
        transport = httpx.MockTransport(lambda r: httpx.Response(200, json=parity_report()))
        async with AsyncExplainerClient(BASE, words=Vocabulary(), transport=transport) as client:
            return await client.fairness("gender")

    assert asyncio.run(run()).report == parity_report()
