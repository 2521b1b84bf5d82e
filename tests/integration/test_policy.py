"""The explanation policy end to end: real service processes against the gated model server
(tests/helpers/servers/gated_model.py, which records every predict request with its
``X-Request-ID`` and holds a worker's requests for as long as a test needs), with inferences
written into the service's store as the sink writes them, answered by the trained model.

- "explain every refusal, at most N a minute" over 200 logged inferences: exactly the
  refusals are explained, once each, never more than N started in any 60 s at the model; an
  interactive request sent meanwhile gets a worker and its answer while the backlog waits;
  the counts in ``/metrics`` and the backlog on ``/health/ready``;
- a SIGKILL while the backlog runs, then a restart on the same store (SQLite, PostgreSQL):
  the backlog is finished, each job done once, with one explanation each;
- a SIGTERM while the backlog runs releases its jobs at once, for the next process.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from explainer_service.inferences.policy_rate import MINUTE_S
from explainer_service.store import Status, Store, open_store
from explainer_service.store.inference_jobs import JobState
from explainer_service.store.inferences import LoggedSide
from tests.helpers.policy_load import logged
from tests.helpers.support import ServerProcess, explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_durability import SharedStore, kill
from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, config, until

pytestmark = pytest.mark.integration

REFUSED = "<=50K"
PER_MINUTE = 4


def refusal_ids(sides: list[LoggedSide]) -> set[str]:
    return {s.id for s in sides if s.side == "response" and s.label == REFUSED}


def policy_config(model: Model, store: str, per_minute: int, lease_s: float = 30) -> dict[str, Any]:
    settings = config(model.url, store)  # type: ignore[arg-type]
    settings["service"].update(lease_s=lease_s)
    settings["inference_log"] = {
        "policy": {
            "rules": [{"label": REFUSED, "methods": ["shap"]}],
            "explanations_per_minute": per_minute,
            "scan_every_s": 0.5,
        }
    }
    return settings


def start(
    model: Model,
    store: SharedStore,
    directory: Path,
    log: Path,
    per_minute: int,
    replica: int = 0,
    lease_s: float = 30,
    grace_s: int = 10,
) -> tuple[ServerProcess, str]:
    settings, env = store.replica(replica)
    wanted = policy_config(model, store.location, per_minute, lease_s)
    wanted["service"].update(settings, shutdown_grace_s=grace_s)
    process, base = explainer_service(wanted, directory, log, env=env, log_level="info")
    wait_until_ready(base, timeout=LIMIT_S)
    return process, base


def opened(store: SharedStore) -> Store:
    """The test's own connection to the service's store, as another process opens it."""
    password_file = None if store.cluster is None else store.cluster.password_file
    return open_store(store.location, password_file=password_file, pool_size=1)


def jobs_of(store: Store, ids: set[str]) -> dict[str, list[Any]]:
    return {id: store.inference_jobs(id) for id in ids}


def policy_starts(model: Model) -> dict[str, float]:
    """When the model first heard of each policy explanation (its request id), in the
    model server's seconds. (Not what the rate is checked on: the first call comes some
    time after the start, a time that varies from one explanation to the next.)"""
    first: dict[str, float] = {}
    for call in model.calls():
        request = call.get("request_id") or ""
        if request.startswith("policy-"):
            first[request] = min(first.get(request, call["start"]), call["start"])
    return first


def most_in_a_minute(times: list[float]) -> int:
    return max((sum(s <= t < s + MINUTE_S for t in times) for s in times), default=0)


def metric(base: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(name)}(\{{(.*)\}})? (\S+)$")
    for line in HTTP.get(base + "/metrics", timeout=30).text.splitlines():
        match = pattern.match(line)
        if match and ",".join(sorted((match.group(2) or "").split(","))) == wanted:
            return float(match.group(3))
    return 0.0


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SharedStore:
    return SharedStore(str(tmp_path / "store.sqlite"))


def test_every_refusal_is_explained_once_within_the_rate_and_after_interactive_work(
    gate: Model,
    sqlite_store: SharedStore,
    income_files: Path,
    tmp_path: Path,
    output_dir: Path,
) -> None:
    sides = logged(total=200, refusals=6)
    refusals = refusal_ids(sides)
    assert len(refusals) == 6 and len({s.id for s in sides}) == 200
    before = set(policy_starts(gate))
    process, base = start(
        gate, sqlite_store, tmp_path, output_dir / "service-policy.log", PER_MINUTE
    )
    store = opened(sqlite_store)
    try:
        gate.hold("all")
        store.log_inferences(sides)  # as the sink writes them, into the service's store
        held = gate.held_worker()  # one background explanation, at the gate
        ready = until(
            lambda: (
                (r := HTTP.get(base + "/health/ready", timeout=30).json())["policy"]
                and r["policy"]["running"] == 1
                and r
            ),
            "the backlog on /health/ready",
        )
        assert ready["ready"] is True
        assert ready["policy"]["waiting"] == len(refusals) - 1
        assert ready["policy"]["limit"] == 10_000

        gate.hold([held])  # the background worker stays held; the other may answer
        seen = len(gate.calls())
        answer = HTTP.post(f"{base}/explain?method=shap&seed=3", json=APPLICANT, timeout=LIMIT_S)
        assert answer.status_code == 200, answer.text
        counts = store.inference_job_counts()
        assert counts.get(JobState.done, 0) == 0  # answered while the backlog waits
        interactive_calls = [c for c in gate.calls()[seen:] if c["worker"] != str(held)]
        assert interactive_calls
        assert not any((c["request_id"] or "").startswith("policy-") for c in interactive_calls)

        gate.hold([])
        until(
            lambda: store.inference_job_counts().get(JobState.done, 0) == len(refusals),
            "every refusal to be explained",
        )
        jobs = jobs_of(store, {s.id for s in sides})
        explained = {id for id, js in jobs.items() if js}
        assert explained == refusals  # exactly the refusals
        explanations = set()
        for id in refusals:
            (job,) = jobs[id]
            assert (job.method, job.state, job.attempts) == ("shap", JobState.done, 1)
            (link,) = store.inference_explanations(id)
            assert link.explanation_id == job.explanation_id and link.method == "shap"
            record = store.get(link.explanation_id)
            assert record is not None and record.status is Status.done and record.attempts == 1
            explanations.add(link.explanation_id)
        assert len(explanations) == len(refusals)  # distinct rows: one explanation each

        starts = policy_starts(gate)
        assert len(set(starts) - before) == len(refusals)  # each started once, at the model
        # the rate, by the jobs' start times (when each was handed to the workers)
        started = [jobs[id][0].started_at for id in refusals]
        assert most_in_a_minute(started) <= PER_MINUTE

        labels = {"method": "shap"}
        assert metric(base, "explainer_policy_jobs_total", **labels, outcome="queued") == 6
        assert metric(base, "explainer_policy_jobs_total", **labels, outcome="explained") == 6
        assert metric(base, "explainer_policy_inferences_total", outcome="chosen") == 6
        assert metric(base, "explainer_policy_inferences_total", outcome="skipped") == 194
        assert metric(base, "explainer_policy_jobs_total", **labels, outcome="dropped") == 0
        until(lambda: metric(base, "explainer_policy_backlog") == 0, "the backlog gauge at 0")
        assert metric(base, "explainer_policy_lag_seconds") == 0
    finally:
        gate.hold([])
        store.close()
        process.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedStore:
    if request.param == "sqlite":
        return SharedStore(str(tmp_path / "store.sqlite"))
    cluster = request.getfixturevalue("postgres")
    return SharedStore(cluster.url(cluster.create_database()), cluster)


def test_after_a_sigkill_the_backlog_is_finished_once_by_the_next_process(
    gate: Model,
    shared: SharedStore,
    income_files: Path,
    tmp_path: Path,
    output_dir: Path,
) -> None:
    name = "pg" if shared.cluster else "sqlite"
    logs = [output_dir / f"service-policy-kill-{name}-{i}.log" for i in (1, 2)]
    sides = logged(total=40, refusals=5)
    refusals = refusal_ids(sides)
    first, base = start(gate, shared, tmp_path, logs[0], per_minute=600, lease_s=3)
    store = opened(shared)
    try:
        gate.hold("all")
        store.log_inferences(sides)
        gate.held_worker()
        kill(first, base)
        jobs = jobs_of(store, refusals)
        states = sorted(js[0].state for js in jobs.values())
        assert states == [JobState.running] + [JobState.waiting] * 4, states
        (cut,) = [id for id, js in jobs.items() if js[0].state is JobState.running]

        gate.hold([])
        second, base = start(gate, shared, tmp_path, logs[1], per_minute=600, replica=1)
        try:
            until(
                lambda: store.inference_job_counts() == {JobState.done: len(refusals)},
                "the backlog to be finished after the restart",
            )
        finally:
            second.stop()
        explanations = set()
        for id in jobs:
            (job,) = store.inference_jobs(id)
            assert job.state is JobState.done
            # each job once; the one cut off by the kill is started again, unless the
            # explanation it had started was taken over and finished first
            assert job.attempts == 1 or (id == cut and job.attempts == 2), (id, job)
            (link,) = store.inference_explanations(id)
            assert link.explanation_id == job.explanation_id
            record = store.get(link.explanation_id)
            assert record is not None and record.status is Status.done
            assert record.attempts == (2 if id == cut else 1)
            explanations.add(link.explanation_id)
        assert len(explanations) == len(refusals)
    finally:
        gate.hold([])
        store.close()
        first.stop()


def test_a_sigterm_releases_the_backlog_for_the_next_process(
    gate: Model,
    sqlite_store: SharedStore,
    income_files: Path,
    tmp_path: Path,
    output_dir: Path,
) -> None:
    logs = [output_dir / f"service-policy-term-{i}.log" for i in (1, 2)]
    sides = logged(total=20, refusals=3)
    refusals = refusal_ids(sides)
    first, _ = start(gate, sqlite_store, tmp_path, logs[0], per_minute=600, grace_s=1)
    store = opened(sqlite_store)
    try:
        gate.hold("all")
        store.log_inferences(sides)
        gate.held_worker()
        first.process.send_signal(signal.SIGTERM)  # the held explanation outlives the grace
        assert first.process.wait(LIMIT_S) in (0, -signal.SIGTERM)
        jobs = {id: store.inference_jobs(id)[0] for id in refusals}
        assert {job.state for job in jobs.values()} == {JobState.waiting}  # none left leased
        assert all(job.owner is None for job in jobs.values())
        (cut,) = [id for id, job in jobs.items() if job.explanation_id is not None]
        released = f"explanation policy: shap of inference {cut} released for the next process"
        assert released in logs[0].read_text()

        gate.hold([])
        second, _ = start(gate, sqlite_store, tmp_path, logs[1], per_minute=600)
        try:
            until(
                lambda: store.inference_job_counts() == {JobState.done: len(refusals)},
                "the released backlog to be finished by the next process",
            )
        finally:
            second.stop()
        for id in refusals:
            (job,) = store.inference_jobs(id)
            # the one cut off is started again, unless the next process's takeover of its
            # released explanation finished it first
            assert job.attempts == 1 or (id == cut and job.attempts == 2), (id, job)
            (link,) = store.inference_explanations(id)
            record = store.get(link.explanation_id)
            assert record is not None and record.status is Status.done
    finally:
        gate.hold([])
        store.close()
        first.stop()
