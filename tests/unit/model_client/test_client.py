"""RemoteModel against httpx.MockTransport: headers, retries, errors, batching, counting."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest

from explainer_service import (
    ModelError,
    ModelResponseError,
    ModelSettings,
    ModelTimeoutError,
    ModelUnavailableError,
    PayloadError,
    ProtocolMismatchError,
    RemoteModel,
)
from explainer_service.errors import http_error
from explainer_service.model_client import CallStats
from explainer_service.observability import context
from explainers.errors import ModelOutputError

NAMES = ["x", "y"]
URL = "http://model.test/v1/models/m:predict"


def make_model(handler, **overrides) -> RemoteModel:
    settings = ModelSettings(
        url=URL, protocol="kserve-v1", **{"retries": 2, "backoff_s": 0.0, **overrides}
    )
    return RemoteModel(settings, NAMES, transport=httpx.MockTransport(handler))


def echo(request: httpx.Request) -> httpx.Response:
    """Probability of class 1 = x / 1000, so every row's answer is recognisable."""
    rows = json.loads(request.content)["instances"]
    return httpx.Response(200, json={"predictions": [[1 - r[0] / 1000, r[0] / 1000] for r in rows]})


def test_headers_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return echo(request)

    model = make_model(handler, headers={"Authorization": "Bearer s3cret", "X-Team": "risk"})
    scores = model.predict([[250, "a"], [500, "b"]])
    np.testing.assert_allclose(scores, [[0.75, 0.25], [0.5, 0.5]])
    request = seen[0]
    assert request.headers["Seldon-Skip-Logging"] == "true"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["X-Team"] == "risk"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"instances": [[250, "a"], [500, "b"]]}
    assert str(request.url) == URL
    assert "X-Request-ID" not in request.headers  # outside a request: none
    assert "traceparent" not in request.headers


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_every_chunk_carries_the_request_id_and_traceparent() -> None:
    seen: list[httpx.Request] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(request)
        return echo(request)

    model = make_model(handler, max_batch_rows=2, concurrency=3)
    with context.bound("req-42", TRACEPARENT):
        model.predict([[i, "a"] for i in range(7)])  # 4 chunks, sent from the pool's threads
    assert len(seen) == 4
    assert {r.headers.get("X-Request-ID") for r in seen} == {"req-42"}
    assert {r.headers.get("traceparent") for r in seen} == {TRACEPARENT}


def test_stats_count_calls_rows_and_seconds() -> None:
    model = make_model(echo, max_batch_rows=3)
    model.predict([[i, "a"] for i in range(7)])
    model.predict([[1, "a"]])
    stats = model.stats
    assert (stats.calls, stats.rows, stats.failures) == (4, 8, 0)
    assert stats.seconds > 0


def test_each_request_has_its_duration_taken_once() -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503)])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer or echo(request)

    model = make_model(handler, max_batch_rows=3, concurrency=1)
    model.predict([[1, "a"]])  # two retries, then the answer
    model.predict([[i, "a"] for i in range(7)])  # three chunks
    durations = model.take_durations()
    assert len(durations) == model.stats.calls == 6
    assert sum(durations) == pytest.approx(model.stats.seconds)
    assert model.take_durations() == []


def test_transient_failures_are_retried() -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(502)])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer or echo(request)

    model = make_model(handler, retries=3)
    np.testing.assert_allclose(model.predict([[100, "a"]]), [[0.9, 0.1]])
    assert (model.stats.calls, model.stats.failures) == (4, 3)


def test_retries_are_bounded() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ModelUnavailableError, match="after 3 attempt") as info:
        make_model(handler, retries=2).predict([[1, "a"]])
    assert len(calls) == 3
    assert info.value.url == URL


def test_backoff_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    monkeypatch.setattr("explainer_service.model_client.client.time.sleep", delays.append)
    with pytest.raises(ModelUnavailableError):
        make_model(lambda r: httpx.Response(503), retries=3, backoff_s=0.05).predict([[1, "a"]])
    assert delays == [0.05, 0.1, 0.2]


@pytest.mark.parametrize("status", [400, 401, 404, 500])
def test_error_statuses_are_not_retried(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, text=f"boom {status}: column 'x' is bad\n\n  trace")

    with pytest.raises(ModelResponseError) as info:
        make_model(handler).predict([[1, "a"]])
    assert len(calls) == 1
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value) and URL in str(info.value)
    assert f"boom {status}: column 'x' is bad trace" in str(info.value)


def test_timeout_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow")

    with pytest.raises(ModelTimeoutError, match=r"within 10\.0 s"):
        make_model(handler).predict([[1, "a"]])
    assert len(calls) == 1


#: Every httpx transport error: the ModelError it becomes, and how many calls are made
#: with ``retries=2``.
TRANSPORT_ERRORS = [
    (httpx.ConnectError, ModelUnavailableError, 3),
    (httpx.ReadError, ModelUnavailableError, 3),
    (httpx.WriteError, ModelUnavailableError, 3),
    (httpx.CloseError, ModelUnavailableError, 3),
    (httpx.RemoteProtocolError, ModelUnavailableError, 3),
    (httpx.ProxyError, ModelUnavailableError, 3),
    (httpx.ConnectTimeout, ModelTimeoutError, 1),
    (httpx.ReadTimeout, ModelTimeoutError, 1),
    (httpx.WriteTimeout, ModelTimeoutError, 1),
    (httpx.PoolTimeout, ModelTimeoutError, 1),
    (httpx.LocalProtocolError, ModelError, 1),
    (httpx.UnsupportedProtocol, ModelError, 1),
    (httpx.TransportError, ModelUnavailableError, 3),
]


@pytest.mark.parametrize(
    ("raised", "error", "calls"), TRANSPORT_ERRORS, ids=[t[0].__name__ for t in TRANSPORT_ERRORS]
)
def test_every_transport_error_becomes_a_model_error(
    raised: type[httpx.TransportError], error: type[ModelError], calls: int
) -> None:
    made = []

    def handler(request: httpx.Request) -> httpx.Response:
        made.append(1)
        raise raised("went wrong at the socket")

    with pytest.raises(ModelError) as info:
        make_model(handler).predict([[1, "a"]])
    assert type(info.value) is error
    assert len(made) == calls
    assert raised.__name__ in str(info.value)  # the cause, for the log
    status, body = http_error(info.value)
    assert status in (502, 503, 504) and body["error"]["message"] == info.value.public


def test_an_answer_its_content_encoding_does_not_decode_is_a_model_error() -> None:
    made = []

    def handler(request: httpx.Request) -> httpx.Response:
        made.append(1)
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, content=b'{"predictions": [[0.5, 0.5]]}'
        )

    with pytest.raises(ModelResponseError, match="cannot be decoded") as info:
        make_model(handler).predict([[1, "a"]])
    assert len(made) == 1  # not retried
    assert "DecodingError" in str(info.value)
    assert http_error(info.value)[0] == 502


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(200, text="<html>login</html>"), "did not answer JSON.*<html>login"),
        (httpx.Response(200, json={"outputs": []}), "missing 'predictions'"),
        (httpx.Response(200, json={"predictions": [[0.5, 0.5]] * 3}), "answered 3 rows for 2"),
        (httpx.Response(200, json={"predictions": [[0.5, 0.4, 0.1]] * 2}), "expected 2 class"),
    ],
)
def test_protocol_mismatch(answer: httpx.Response, message: str) -> None:
    model = make_model(lambda request: answer, class_names=["no", "yes"])
    with pytest.raises(ProtocolMismatchError, match=message):
        model.predict([[1, "a"], [2, "b"]])


def test_rows_that_cannot_be_sent_never_reach_the_model() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return echo(request)

    model = make_model(handler)
    with pytest.raises(PayloadError) as info:
        model.predict([[float("nan"), "a"]])
    assert info.value.field == "[0][0]"
    with pytest.raises(PayloadError):
        model.predict([[1, "a", "extra"]])
    assert calls == []


def test_empty_batch_makes_no_call() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return echo(request)

    scores = make_model(handler, class_names=["a", "b", "c"]).predict([])
    assert scores.shape == (0, 3) and calls == []


def test_chunks_run_concurrently_and_come_back_in_order() -> None:
    """The first chunk is held until every other chunk has been answered, so the chunks
    finish out of order and at least two are in flight at once."""
    lock = threading.Lock()
    in_flight, peak, sizes, finished = [0], [0], [], []
    others_answered = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        rows = json.loads(request.content)["instances"]
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            sizes.append(len(rows))
        if rows[0][0] == 0:
            assert others_answered.wait(timeout=60), "the other chunks were not answered"
        with lock:
            in_flight[0] -= 1
            finished.append(rows[0][0] // 10)
            if len(finished) == 9:
                others_answered.set()
        return echo(request)

    model = make_model(handler, max_batch_rows=10, concurrency=4)
    rows = [[i, "a"] for i in range(95)]
    scores = model.predict(rows)
    assert finished[-1] == 0 and sorted(finished) == list(range(10))
    np.testing.assert_allclose(scores[:, 1], [i / 1000 for i in range(95)])
    assert sorted(sizes) == [5] + [10] * 9
    assert 1 < peak[0] <= 4


def test_labels_and_regression_outputs() -> None:
    def labels(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"predictions": ["no", "yes"]})

    out = make_model(labels, output="labels").predict([[1, "a"], [2, "b"]])
    assert out.tolist() == ["no", "yes"]

    def values(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"predictions": [[1.5], [2.5]]})

    out = make_model(values, output="regression").predict([[1, "a"], [2, "b"]])
    np.testing.assert_array_equal(out, [1.5, 2.5])


def test_thread_stats_charge_chunks_and_retries_to_the_thread_that_called_predict() -> None:
    lock = threading.Lock()
    refused: set[int] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        first = json.loads(request.content)["instances"][0][0]
        with lock:
            if first % 20 == 0 and first not in refused:  # these chunks need a retry
                refused.add(first)
                return httpx.Response(503)
        return echo(request)

    model = make_model(handler, max_batch_rows=10, concurrency=3)
    start = threading.Barrier(2)
    seen: dict[str, CallStats] = {}

    def explain(name: str, rows: list[list]) -> None:
        start.wait()
        model.predict(rows)
        model.predict(rows[:3])
        seen[name] = model.thread_stats()

    threads = [
        threading.Thread(target=explain, args=("a", [[i, "a"] for i in range(35)])),
        threading.Thread(target=explain, args=("b", [[500 + i, "b"] for i in range(52)])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # a: chunks from 0, 10, 20, 30 (0 and 20 retried), then 3 rows again (0 now answers)
    assert (seen["a"].calls, seen["a"].rows, seen["a"].failures) == (4 + 2 + 1, 35 + 20 + 3, 2)
    # b: chunks from 500 ... 550 (500, 520, 540 retried), then 3 rows again
    assert (seen["b"].calls, seen["b"].rows, seen["b"].failures) == (6 + 3 + 1, 52 + 30 + 3, 3)
    assert model.stats.calls == seen["a"].calls + seen["b"].calls
    assert model.thread_stats() == CallStats()  # this thread called nothing


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        ([[0.9, 0.9], [0.5, 0.5]], r"do not sum to 1 \(row 0 sums to 1\.8"),
        ([[0.5, 0.5], [-0.5, 1.5]], r"outside \[0, 1\] \(row 1"),
        ([[1e308, -1e308], [0.5, 0.5]], r"outside \[0, 1\] \(row 0"),
        ([[0.5], [1.2]], r"outside \[0, 1\] \(row 1"),  # one column: the positive class
    ],
)
def test_probabilities_that_are_not_probabilities_are_a_model_output_error(
    predictions: list, message: str
) -> None:
    model = make_model(lambda request: httpx.Response(200, json={"predictions": predictions}))
    with pytest.raises(ModelOutputError, match=message) as info:
        model.predict([[1, "a"], [2, "b"]])
    status, body = http_error(info.value)
    assert (status, body["error"]["code"]) == (502, "model_output")


def test_rounded_probabilities_are_within_the_tolerance_and_the_tolerance_is_a_setting() -> None:
    rounded = {"predictions": [[0.333, 0.333, 0.333], [1.0004, -0.0004, 0.0]]}
    model = make_model(lambda request: httpx.Response(200, json=rounded))
    assert model.predict([[1, "a"], [2, "b"]]).shape == (2, 3)
    strict = make_model(lambda request: httpx.Response(200, json=rounded), probability_tolerance=0)
    with pytest.raises(ModelOutputError, match=r"outside \[0, 1\] \(row 1; tolerance 0\)"):
        strict.predict([[1, "a"], [2, "b"]])


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_never_an_answer(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        headers = {"Location": "http://internal.example/login"}
        return httpx.Response(status, headers=headers, json={"predictions": [[0.5, 0.5]]})

    with pytest.raises(ModelUnavailableError, match=f"HTTP {status}, a redirect") as info:
        make_model(handler).predict([[1, "a"]])
    assert len(calls) == 1  # neither followed nor retried
    status_code, body = http_error(info.value)
    assert (status_code, body["error"]["code"]) == (503, "model_unavailable")
    assert "internal.example" not in json.dumps(body)  # the Location is for the log only
    assert "Location: http://internal.example/login" in str(info.value)


LABEL = "models.candidate (income, version 2)"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(503, text="down"), ModelUnavailableError),
        (httpx.Response(500, text="boom"), ModelResponseError),
        (httpx.Response(200, text="not json"), ProtocolMismatchError),
    ],
)
def test_a_labelled_model_names_itself_in_every_error(answer: httpx.Response, error) -> None:
    """The candidate's errors say it was the candidate, to clients (``public``, the answer
    body) and in the log (``message``); the class, status and code stay the model's."""
    settings = ModelSettings(url=URL, protocol="kserve-v1", retries=0, backoff_s=0.0)
    transport = httpx.MockTransport(lambda request: answer)
    labelled = RemoteModel(settings, NAMES, transport=transport, label=LABEL)
    with pytest.raises(error) as raised:
        labelled.predict([[1, "a"]])
    assert raised.value.public.startswith(f"{LABEL}: the model")
    assert str(raised.value).startswith(f"{LABEL}: ") and URL in str(raised.value)
    status, body = http_error(raised.value)
    assert status == {ModelUnavailableError: 503}.get(error, 502)
    assert body["error"]["message"].startswith(LABEL)
    unlabelled = RemoteModel(settings, NAMES, transport=transport)
    with pytest.raises(error) as plain:
        unlabelled.predict([[1, "a"]])
    assert "candidate" not in str(plain.value)
    assert type(raised.value) is type(plain.value)


def test_a_labelled_model_names_itself_in_an_output_error() -> None:
    settings = ModelSettings(url=URL, protocol="kserve-v1", retries=0)
    answer = httpx.Response(200, json={"predictions": [[0.9, 0.9]]})  # sums to 1.8
    labelled = RemoteModel(
        settings, NAMES, transport=httpx.MockTransport(lambda r: answer), label=LABEL
    )
    with pytest.raises(ModelOutputError) as raised:
        labelled.predict([[1, "a"]])
    assert raised.value.message.startswith(f"{LABEL}: ")
    assert http_error(raised.value)[1]["error"]["message"].startswith(LABEL)
