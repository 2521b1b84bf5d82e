"""A worker's task: an explanation answered as JSON, or an error answered as a ``Problem``
(code, message, detail); only unexpected errors are logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from explainer_service.workers.task import Done, Failed, Task, run_task
from explainers import BlackBox, Budget
from tests.helpers.support import free_port


@pytest.fixture(scope="module")
def runtime(income_files) -> Iterator[FittedRuntime]:
    """SHAP only, pointed at a port where nothing listens."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"
    settings.model.url = url  # type: ignore[assignment]
    settings.model.retries = 0
    settings.explainers = {"shap": {"nsamples": 100}}
    runtime = FittedRuntime(settings)
    runtime.fit()
    yield runtime
    runtime.close()


def row(runtime: FittedRuntime) -> list:
    return runtime.reference[runtime.schema.names].iloc[0].tolist()


def answering(runtime: FittedRuntime, predict) -> BlackBox:
    return BlackBox(predict, runtime.box.output, runtime.box.class_names)


def test_a_model_error_is_answered_without_the_url_and_logged_once_with_it(
    runtime: FittedRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    url = str(runtime.settings.model.url)
    with caplog.at_level(logging.INFO):
        answer = run_task(runtime, Task("a", "shap", row(runtime), {"seed": 1}, "req-1"))
    assert isinstance(answer, Failed) and answer.id == "a"
    assert answer.problem.status == 503
    error = answer.problem
    assert error.code == "model_unavailable"
    assert error.message == "the model is unreachable after 1 attempt(s)"
    assert error.detail == {"status": None}
    assert url not in str(answer.problem) and "127.0.0.1" not in str(answer.problem)
    [record] = [r for r in caplog.records if r.name.startswith("explainer_service")]
    assert record.levelno == logging.WARNING and not record.exc_info
    assert url in record.getMessage() and "ConnectError" in record.getMessage()


def test_the_task_carries_the_request_id_into_the_workers_log(
    runtime: FittedRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    from explainer_service.observability import context

    with context.bound("req-2"):
        task = Task("b", "shap", row(runtime), {"seed": 1})
    assert task.request_id == "req-2"
    caplog.handler.addFilter(context.RequestIdFilter())
    with caplog.at_level(logging.WARNING):
        run_task(runtime, task)
    assert [r.request_id for r in caplog.records if r.name.startswith("explainer_service")] == [
        "req-2"
    ]


def test_an_unexpected_error_is_answered_500_and_logged(
    runtime: FittedRuntime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rows):
        raise RuntimeError("segment of the model client exploded")

    monkeypatch.setattr(runtime.explainer("shap"), "model", answering(runtime, broken))
    with caplog.at_level(logging.WARNING):
        answer = run_task(runtime, Task("b", "shap", row(runtime), {"seed": 1}))
    assert isinstance(answer, Failed)
    assert (answer.problem.status, answer.problem.code) == (500, "internal")
    assert "exploded" not in answer.problem.message  # no internals in the answer
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]


def test_an_explanation_is_answered_as_json(runtime: FittedRuntime, monkeypatch) -> None:
    scores = answering(runtime, lambda rows: np.tile([0.25, 0.75], (len(rows), 1)))
    monkeypatch.setattr(runtime.explainer("shap"), "model", scores)
    answer = run_task(runtime, Task("c", "shap", row(runtime), {"seed": 1}))
    assert isinstance(answer, Done) and answer.id == "c"
    assert '"method":"shap"' in answer.explanation


def test_a_budget_passed_while_running_is_answered_422_naming_it(
    runtime: FittedRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The estimate is checked before queueing; a wrong one is still capped in the worker."""
    sent: list[int] = []

    def scores(rows):
        sent.append(len(rows))
        return np.tile([0.25, 0.75], (len(rows), 1))

    monkeypatch.setattr(runtime.explainer("shap"), "model", answering(runtime, scores))
    monkeypatch.setattr(runtime, "budget", Budget(max_rows=1000))
    with caplog.at_level(logging.WARNING):
        answer = run_task(runtime, Task("d", "shap", row(runtime), {"seed": 1}))
    assert isinstance(answer, Failed) and answer.problem.status == 422
    error = answer.problem
    assert error.code == "budget_exceeded" and "max_rows" in error.message
    assert error.detail == {
        "budget": "max_rows",
        "limit": 1000,
        "used": sum(sent),
        "parameters": [],
    }
    assert sum(sent) <= 1000 and len(sent) == 1  # the instance with the background
    assert caplog.records == []  # the caller's limit, not a fault
