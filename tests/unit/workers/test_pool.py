"""The worker pool's logic, with small stand-in workers (tests/helpers/fake_workers.py) in real
spawned processes: dispatch, errors carried back, replacement of dead workers, closing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest

from explainer_service.errors import (
    DeadlineExceededError,
    ShuttingDownError,
    WorkerCrashedError,
    WorkerError,
    http_error,
)
from explainer_service.workers import Pool, Task, WorkerState
from tests.helpers import fake_workers

LIMIT_S = 60.0  # generous: the machine may be loaded


def until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def task(method: str, id: str = "t", **params: object) -> Task:
    return Task(id, method, None, dict(params))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def pool() -> Iterator[Pool]:
    pool = Pool({}, 2, target=fake_workers.answering)
    pool.start()
    until(lambda: pool.ready, "the workers to start")
    yield pool
    pool.close()


def test_answers_and_records_who_ran_each_task(pool: Pool) -> None:
    started = []
    pool.on_start = started.append
    job = pool.submit(task("echo", "a", seed=3))
    assert json.loads(job.future.result(LIMIT_S))["params"] == {"seed": 3}
    assert started == [job]
    assert job.worker in (0, 1)
    assert job.pid == pool.workers()[job.worker]["pid"]
    assert job.queue_seconds is not None and job.queue_seconds >= 0


def test_a_free_worker_takes_the_next_task_while_another_is_busy(pool: Pool) -> None:
    slow = pool.submit(task("sleep", "slow", seconds=600))
    until(lambda: slow.worker is not None, "the slow task to start")
    quick = pool.submit(task("echo", "quick"))
    assert json.loads(quick.future.result(LIMIT_S))["worker"] == 1 - slow.worker
    assert not slow.future.done()
    busy = [w for w in pool.workers() if w["state"] == WorkerState.busy]
    assert [(w["index"], w["task"]) for w in busy] == [(slow.worker, "slow")]


def test_tasks_wait_in_order_for_a_free_worker() -> None:
    pool = Pool({}, 1, target=fake_workers.answering)
    pool.start()
    try:
        jobs = [pool.submit(task("echo", str(i), n=i)) for i in range(5)]
        done = [json.loads(j.future.result(LIMIT_S))["params"]["n"] for j in jobs]
        assert done == [0, 1, 2, 3, 4]
        assert [j.started for j in jobs] == sorted(j.started for j in jobs)  # type: ignore[type-var]
    finally:
        pool.close()


def test_an_error_comes_back_as_it_was_answered(pool: Pool) -> None:
    job = pool.submit(task("fail"))
    with pytest.raises(WorkerError) as info:
        job.future.result(LIMIT_S)
    status, body = http_error(info.value)
    assert status == 422 and body["error"]["code"] == "invalid_parameter"
    assert body["error"]["message"] == info.value.problem.message == "no"
    assert pool.workers()[job.worker]["restarts"] == 0  # a handled error is no crash


def test_a_worker_that_dies_mid_task_fails_it_and_is_replaced(pool: Pool) -> None:
    job = pool.submit(task("exit", code=3))
    with pytest.raises(WorkerCrashedError) as info:
        job.future.result(LIMIT_S)
    assert info.value.exit_code == 3 and info.value.worker == job.worker
    status, body = http_error(info.value)
    assert status == 500 and body["error"]["code"] == "worker_crashed"
    assert "exit code 3" in body["error"]["message"] and "retried" in body["error"]["message"]
    worker = job.worker
    until(
        lambda: (
            pool.workers()[worker]["state"] == WorkerState.idle
            and pool.workers()[worker]["pid"] not in (None, job.pid)
        ),
        "the replacement",
    )
    assert pool.workers()[worker]["restarts"] == 1
    again = [pool.submit(task("echo", str(i))) for i in range(4)]
    assert all(json.loads(j.future.result(LIMIT_S)) for j in again)


def test_a_killed_worker_names_the_signal(pool: Pool) -> None:
    job = pool.submit(task("sleep", seconds=600))
    until(lambda: job.pid is not None, "the task to start")
    assert job.pid is not None
    os.kill(job.pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashedError, match="killed by SIGKILL") as info:
        job.future.result(LIMIT_S)
    assert info.value.exit_code == -signal.SIGKILL


def test_a_worker_killed_while_idle_is_replaced(pool: Pool) -> None:
    old = pool.workers()[0]["pid"]
    os.kill(old, signal.SIGKILL)
    until(
        lambda: (
            pool.workers()[0]["pid"] not in (None, old)
            and pool.workers()[0]["state"] == WorkerState.idle
        ),
        "the replacement",
    )
    jobs = [pool.submit(task("echo", str(i))) for i in range(4)]
    wait([j.future for j in jobs], LIMIT_S)
    assert all(j.future.exception() is None for j in jobs)


def test_a_configuration_error_stops_the_pool_from_being_ready() -> None:
    pool = Pool({}, 2, target=fake_workers.misconfigured)
    pool.start()
    try:
        until(lambda: all(w["state"] == WorkerState.failed for w in pool.workers()), "failure")
        assert not pool.ready
        assert pool.failure == "configuration error: explainers.importance: needs labelled data"
        assert all(w["restarts"] == 0 for w in pool.workers())  # not replaced
    finally:
        pool.close()


def test_a_worker_dying_at_start_is_started_again() -> None:
    pool = Pool({}, 1, target=fake_workers.dying_at_start)
    pool.start()
    try:
        until(lambda: pool.workers()[0]["restarts"] >= 2, "restarts")
        assert not pool.ready and pool.failure is None
    finally:
        pool.close()
    assert pool.workers()[0]["state"] == WorkerState.stopped


def test_close_stops_every_process_and_fails_what_is_left(pool: Pool) -> None:
    running = pool.submit(task("sleep", "running", seconds=600))
    until(lambda: running.pid is not None, "the task to start")
    pids = [w["pid"] for w in pool.workers()]
    queued = [pool.submit(task("sleep", str(i), seconds=600)) for i in range(3)]
    pool.close()
    assert not any(alive(pid) for pid in pids)
    for job in [running, *queued]:
        with pytest.raises(ShuttingDownError):
            job.future.result(LIMIT_S)
    with pytest.raises(ShuttingDownError, match="shutting down"):
        pool.submit(task("echo"))
    assert {w["state"] for w in pool.workers()} == {WorkerState.stopped}


def test_close_lets_running_tasks_finish_within_the_grace_period(
    pool: Pool, tmp_path: Path
) -> None:
    """The running tasks wait for a file the test creates once close() has failed the
    queued ones, which never start."""
    gate = tmp_path / "open"
    running = [pool.submit(task("wait", f"running-{i}", file=str(gate))) for i in range(2)]
    until(lambda: all(job.started is not None for job in running), "both tasks to start")
    pids = [w["pid"] for w in pool.workers()]
    queued = [pool.submit(task("echo", f"queued-{i}")) for i in range(2)]
    closing = threading.Thread(target=pool.close, kwargs={"grace_s": 10 * LIMIT_S})
    closing.start()
    for job in queued:
        with pytest.raises(ShuttingDownError):
            job.future.result(LIMIT_S)
        assert job.started is None
    assert not any(job.future.done() for job in running)
    gate.touch()
    closing.join(LIMIT_S)
    assert not closing.is_alive()
    for job in running:
        assert json.loads(job.future.result(0))["params"] == {"file": str(gate)}
    assert not any(alive(pid) for pid in pids)
    assert {w["state"] for w in pool.workers()} == {WorkerState.stopped}


def test_a_task_past_its_deadline_is_stopped_and_its_worker_replaced(pool: Pool) -> None:
    late = pool.submit(Task("late", "sleep", None, {"seconds": 600}, deadline_s=0.5))
    until(lambda: late.pid is not None, "the task to start")
    pid = late.pid
    assert pid is not None
    with pytest.raises(DeadlineExceededError) as info:
        late.future.result(LIMIT_S)
    assert http_error(info.value)[0] == 504
    assert http_error(info.value)[1]["error"]["detail"] == {"deadline_s": 0.5}
    until(lambda: not alive(pid), "the late worker to be stopped")
    until(lambda: _restarts(pool, late.worker) == 1, "a replacement")
    # the replacement and the other worker still answer
    jobs = [pool.submit(task("echo", str(i))) for i in range(4)]
    wait([j.future for j in jobs], LIMIT_S)
    assert all(j.future.exception() is None for j in jobs)


def _restarts(pool: Pool, index: int | None) -> int:
    return next(w["restarts"] for w in pool.workers() if w["index"] == index)


def test_waiting_counts_the_tasks_no_worker_has_started() -> None:
    pool = Pool({}, 1, target=fake_workers.answering)
    pool.start()
    try:
        until(lambda: pool.ready, "the worker")
        first = pool.submit(task("sleep", "busy", seconds=1))
        until(lambda: first.started is not None, "the first task to start")
        queued = [pool.submit(task("echo", str(i))) for i in range(3)]
        assert pool.waiting == 3
        wait([j.future for j in queued], LIMIT_S)
        assert pool.waiting == 0
    finally:
        pool.close()
