"""The policy's scheduler round by round, with an injected clock, a real store and a
stand-in for the service whose explanation futures the test settles: the background slots
and the rates, what a job's end writes, failures tried again or not, refusals and release."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from examples.income import paths
from explainer_service.errors import Problem, QueueFullError, WorkerError
from explainer_service.inferences.policy import Policy
from explainer_service.inferences.scheduler import MAX_ATTEMPTS, PolicyScheduler
from explainer_service.observability import context
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.service import Ticket
from explainer_service.settings import PolicySettings, Settings, load_settings
from explainer_service.store import SqliteStore, Store
from explainer_service.store.inference_jobs import JobState
from explainers.explanation import Cost, Explanation, OtherFidelity, OtherResult, Provenance
from tests.unit.inferences.test_policy import side


def explanation(calls: int) -> Explanation:
    return Explanation(
        method="stand-in",
        instance=None,
        prediction=None,
        result=OtherResult(method="stand-in"),
        fidelity=OtherFidelity(method="stand-in"),
        cost=Cost(model_calls=calls, rows=calls, model_seconds=0.0, seconds=0.0),
        provenance=Provenance(
            explainer="fake",
            params={},
            seed=None,
            versions={},
            reference_fingerprint="",
            reference_rows=0,
        ),
    )


@dataclass
class Submitted:
    id: str
    method: str
    rows: list[Any]
    future: Future[Explanation]
    request_id: str | None


class StandInService:
    """What the scheduler uses of ``Service``; explanations are futures the test settles."""

    def __init__(self, store: Store, runtime: Runtime, settings: Settings, slots: int) -> None:
        self.store, self.runtime, self.settings = store, runtime, settings
        self.metrics = Metrics()
        self.pool = SimpleNamespace(background_slots=slots)
        self.readiness = SimpleNamespace(ready=True)
        self.submitted: list[Submitted] = []
        self.refusal: Exception | None = None

    def tickets_of_rows(
        self, method: str, rows: list[Any], params: Any, *, background: bool = False
    ) -> list[Ticket]:
        assert background and params is None
        if self.refusal is not None:
            raise self.refusal
        future: Future[Explanation] = Future()
        id = f"exp-{len(self.submitted)}"
        self.submitted.append(Submitted(id, method, rows, future, context.current()))
        return [Ticket(id, method, None, future, computed=True)]

    def running(self) -> list[Submitted]:
        return [s for s in self.submitted if not s.future.done()]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def settings(income_files: Path) -> Settings:
    return load_settings(paths.HERE / "explainer.yaml")


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = SqliteStore(tmp_path / "store.sqlite")
    yield store
    store.close()


def scheduler(
    store: Store, runtime: Runtime, settings: Settings, slots: int = 2, **config: Any
) -> tuple[PolicyScheduler, StandInService, Clock]:
    config.setdefault("rules", [{"label": "<=50K", "methods": ["shap"]}])
    service = StandInService(store, runtime, settings, slots)
    policy = Policy(PolicySettings(**config), runtime, store, service.metrics)
    clock = Clock()
    return PolicyScheduler(policy, service, clock=clock), service, clock  # type: ignore[arg-type]


def log(store: Store, refused: int, granted: int = 0) -> None:
    for n in range(refused + granted):
        scores = [0.9, 0.1] if n < refused else [0.2, 0.8]
        store.log_inferences([side(f"i{n}", "request", scores), side(f"i{n}", "response", scores)])


def metric(service: StandInService, name: str, **labels: str) -> float:
    return service.metrics.registry.get_sample_value(name, labels) or 0.0


def test_jobs_run_in_the_background_slots_within_the_explanations_per_minute(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, clock = scheduler(store, runtime, settings, explanations_per_minute=3)
    log(store, refused=5, granted=3)
    chore.run_once()  # decides about the 8 inferences, starts 2 (the slots)
    assert len(service.running()) == 2
    assert all((s.request_id or "").startswith("policy-") for s in service.submitted)
    assert chore.status()["waiting"] == 3 and chore.status()["running"] == 2
    for s in service.running():
        s.future.set_result(explanation(calls=4))
    chore.run_once()  # settles both; one more start reaches 3 in this minute
    assert len(service.submitted) == 3 and len(service.running()) == 1
    service.running()[0].future.set_result(explanation(calls=4))
    clock.now += 59
    chore.run_once()
    assert len(service.submitted) == 3  # the minute is not over
    clock.now += 1
    chore.run_once()
    assert len(service.submitted) == 5
    for s in service.running():
        s.future.set_result(explanation(calls=4))
    chore.run_once()
    assert store.inference_job_counts() == {JobState.done: 5}
    for n in range(5):
        (job,) = store.inference_jobs(f"i{n}")
        assert job.model_calls == 4 and job.attempts == 1
        (link,) = store.inference_explanations(f"i{n}")
        assert link.explanation_id == job.explanation_id and link.agrees is None
    assert {s.rows[0][0] for s in service.submitted} == {39}  # the logged rows
    assert metric(service, "explainer_policy_jobs_total", method="shap", outcome="explained") == 5
    assert metric(service, "explainer_policy_backlog") == 0


def test_model_calls_per_minute_reserve_each_estimate(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    estimate = runtime.estimate("shap", runtime.resolve_params("shap", None))
    assert estimate is not None
    budget = estimate.model_calls * 2
    chore, service, _ = scheduler(
        store,
        runtime,
        settings,
        slots=5,
        explanations_per_minute=100,
        model_calls_per_minute=budget,
    )
    log(store, refused=4)
    chore.run_once()
    assert len(service.submitted) == 2  # two estimates fill the budget
    for s in service.running():
        s.future.set_result(explanation(calls=1))  # each reported far fewer calls
    chore.run_once()
    # what they reported is what counts once done: 2 calls spent, room for one estimate more
    assert estimate.model_calls > 2 and len(service.submitted) == 3


def test_a_refused_row_fails_at_once_and_a_server_failure_is_tried_again(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, _ = scheduler(store, runtime, settings, slots=2)
    log(store, refused=2)
    chore.run_once()
    refused, _ = service.submitted
    refused.future.set_exception(WorkerError(Problem("invalid_instance", "no such category")))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        (job,) = store.inference_jobs("i1")
        assert job.state is JobState.running and job.attempts == attempt
        (current,) = service.running()
        current.future.set_exception(WorkerError(Problem("model_unavailable", "down")))
        chore.run_once()  # released, then claimed and started again, while attempts remain
    (failed,) = store.inference_jobs("i0")
    assert failed.state is JobState.failed and failed.error["code"] == "invalid_instance"  # type: ignore[index]
    assert failed.attempts == 1
    (job,) = store.inference_jobs("i1")
    assert job.state is JobState.failed and job.attempts == MAX_ATTEMPTS
    assert metric(service, "explainer_policy_jobs_total", method="shap", outcome="failed") == 2
    assert store.inference_explanations("i0") == []


def test_a_service_that_takes_nothing_now_leaves_the_job_waiting(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, _ = scheduler(store, runtime, settings)
    log(store, refused=1)
    service.refusal = QueueFullError(32, 5)
    chore.run_once()
    (job,) = store.inference_jobs("i0")
    assert job.state is JobState.waiting and job.attempts == 0 and job.started_at is None
    service.refusal = None
    service.readiness.ready = False  # e.g. the model is down: nothing starts
    chore.run_once()
    assert service.submitted == []
    service.readiness.ready = True
    chore.run_once()
    assert len(service.submitted) == 1


def test_closing_releases_the_jobs_in_flight_for_the_next_process(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, _ = scheduler(store, runtime, settings)
    log(store, refused=3)
    chore.run_once()
    service.submitted[0].future.set_result(explanation(calls=2))
    chore.close()
    states = {n: store.inference_jobs(f"i{n}")[0] for n in range(3)}
    assert [states[n].state for n in range(3)] == [
        JobState.done,
        JobState.waiting,
        JobState.waiting,
    ]
    assert states[1].owner is None and states[1].explanation_id == "exp-1"
    # the next process finds exp-1 unknown to the store, so it explains the row again
    after, service_after, _ = scheduler(store, runtime, settings)
    after.run_once()
    assert [s.rows for s in service_after.submitted] == [service.submitted[1].rows] * 2


def test_a_row_explained_before_ends_at_once_without_a_start(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, _ = scheduler(store, runtime, settings, explanations_per_minute=1)
    log(store, refused=3)
    stored = explanation(calls=9)
    original = service.tickets_of_rows

    def answered_from_the_store(*args: Any, **kwargs: Any) -> list[Ticket]:
        (ticket,) = original(*args, **kwargs)
        record = SimpleNamespace(explanation=stored)
        return [Ticket(ticket.id, ticket.method, record, None)]  # type: ignore[arg-type]

    service.tickets_of_rows = answered_from_the_store  # type: ignore[method-assign]
    chore.run_once()  # one a minute, but none of them starts anything
    assert store.inference_job_counts() == {JobState.done: 3}
    for n in range(3):
        (job,) = store.inference_jobs(f"i{n}")
        assert job.started_at is None and job.attempts == 0
        assert job.explanation_id == store.inference_explanations(f"i{n}")[0].explanation_id


def test_leases_are_renewed_while_the_model_is_down(
    store: Store, runtime: Runtime, settings: Settings
) -> None:
    chore, service, clock = scheduler(store, runtime, settings, slots=1)
    log(store, refused=1)
    chore.run_once()
    (job,) = store.inference_jobs("i0")
    assert job.state is JobState.running
    service.readiness.ready = False
    with store._session() as db:  # as if the lease were about to run out
        db.execute("UPDATE inference_jobs SET lease_until = 0")
    clock.now += settings.service.lease_s
    chore.run_once()
    with store._session() as db:
        (lease,) = db.execute("SELECT lease_until FROM inference_jobs").fetchone()
    assert lease > time.time()  # renewed (leases are by the wall clock), though nothing starts
    assert store.claim_inference_job("another", 60, ["shap"]) is None


def test_replicas_sharing_a_store_share_the_rate_and_each_job(
    store: Store, runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    other = SqliteStore(tmp_path / "store.sqlite")  # a second process on the same file
    try:
        one, service_one, clock_one = scheduler(store, runtime, settings, explanations_per_minute=3)
        two, service_two, clock_two = scheduler(other, runtime, settings, explanations_per_minute=3)
        log(store, refused=6)
        one.run_once()
        two.run_once()
        assert len(service_one.submitted) + len(service_two.submitted) == 3
        for s in service_one.running() + service_two.running():
            s.future.set_result(explanation(calls=1))
        one.run_once()
        two.run_once()
        assert len(service_one.submitted) + len(service_two.submitted) == 3  # this minute's
        clock_one.now += 60
        clock_two.now += 60
        for _ in range(3):
            for chore, service in ((one, service_one), (two, service_two)):
                chore.run_once()
                for s in service.running():
                    s.future.set_result(explanation(calls=1))
        assert len(service_one.submitted) + len(service_two.submitted) == 6  # each job once
        assert service_one.submitted and service_two.submitted
        assert store.inference_job_counts() == {JobState.done: 6}
        assert all(len(store.inference_explanations(f"i{n}")) == 1 for n in range(6))
    finally:
        other.close()
