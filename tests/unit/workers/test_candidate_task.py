"""A worker's candidate tasks (``Task.candidate``): explained with ``models.candidate``'s
runtime, built on first use; the model's tasks keep the model's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import CandidateSettings, load_settings
from explainer_service.workers.task import Failed, Setup, Task, _Runtimes
from tests.helpers.support import free_port


@pytest.fixture(scope="module")
def settings(income_files):
    """Anchors only; the model and the candidate at two ports where nothing listens."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/m"  # type: ignore[assignment]
    settings.model.retries = 0
    settings.explainers = {"anchors": {}}
    settings.models.candidate = CandidateSettings(url=f"http://127.0.0.1:{free_port()}/c")
    return settings


@pytest.fixture(scope="module")
def model(settings) -> Iterator[FittedRuntime]:
    runtime = FittedRuntime(settings, announce=False)
    yield runtime
    runtime.close()


def task(candidate: bool) -> Task:
    return Task("t", "anchors", ["x"] * 12, {"seed": 1}, candidate=candidate)


def test_a_candidate_task_calls_the_candidate(settings, model: FittedRuntime) -> None:
    runtimes = _Runtimes(model, Setup(settings, candidate=settings.candidate()), 3)
    row = model.reference[model.schema.names].iloc[0].tolist()
    theirs = runtimes.run(Task("c", "anchors", row, {"seed": 1}, candidate=True))
    ours = runtimes.run(Task("m", "anchors", row, {"seed": 1}))
    assert isinstance(theirs, Failed) and isinstance(ours, Failed)  # nothing listens
    assert theirs.problem.code == ours.problem.code == "model_unavailable"
    built = runtimes._candidate
    assert built is not None and built is not model
    assert str(built.settings.model.url).endswith("/c")
    assert built.settings.model.headers["X-Explainer-Worker"] == "3"
    assert built.reference is not None and len(built.reference) == len(model.reference)
    runtimes.run(Task("c2", "anchors", row, {"seed": 1}, candidate=True))
    assert runtimes._candidate is built  # built once


def test_a_candidate_task_without_a_candidate_fails_as_not_found(
    settings, model: FittedRuntime
) -> None:
    answer = _Runtimes(model, Setup(settings), 0).run(task(candidate=True))
    assert isinstance(answer, Failed) and answer.problem.code == "not_found"
