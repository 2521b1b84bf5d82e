"""The pool's queue: interactive tasks first, background ones only into their slots."""

from __future__ import annotations

import threading

from explainer_service.workers import Task
from explainer_service.workers.pool import Job, _Queue


def job(id: str, background: bool = False) -> Job:
    return Job(Task(id, "shap", None, {}, background=background))


def ids(queue: _Queue, n: int) -> list[str | None]:
    taken = [queue.get(0) for _ in range(n)]
    return [j.task.id if j else None for j in taken]


def test_interactive_jobs_go_first_and_each_lane_in_order() -> None:
    queue = _Queue(background_slots=5)
    for id, background in (("b1", True), ("i1", False), ("b2", True), ("i2", False)):
        queue.put(job(id, background))
    assert len(queue) == 4
    assert ids(queue, 5) == ["i1", "i2", "b1", "b2", None]


def test_background_jobs_run_only_in_their_slots() -> None:
    queue = _Queue(background_slots=1)
    first, second = job("b1", True), job("b2", True)
    queue.put(first)
    queue.put(second)
    assert queue.get(0) is first
    assert queue.get(0) is None  # its slot is taken: b2 waits, though a worker is free
    queue.put(job("i1"))
    assert ids(queue, 1) == ["i1"]  # interactive work is never held back
    queue.done(first)
    assert queue.get(0) is second


def test_a_waiting_worker_takes_a_background_job_once_a_slot_frees() -> None:
    queue = _Queue(background_slots=1)
    running = job("b1", True)
    queue.put(running)
    assert queue.get(0) is running
    queue.put(job("b2", True))
    got: list[Job | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(60)))
    waiter.start()
    queue.done(running)  # wakes the waiting worker at once
    waiter.join(60)
    assert [j.task.id for j in got if j] == ["b2"]


def test_a_job_put_back_goes_to_the_front_of_its_lane() -> None:
    queue = _Queue(background_slots=2)
    for id in ("b1", "b2"):
        queue.put(job(id, True))
    taken = queue.get(0)
    assert taken is not None
    queue.done(taken)
    queue.put(taken, front=True)
    assert ids(queue, 2) == ["b1", "b2"]
    assert len(queue.drain()) == 0


def test_a_background_job_someone_now_waits_for_goes_with_the_interactive_ones() -> None:
    queue = _Queue(background_slots=1)
    for id, background in (("b1", True), ("b2", True), ("i1", False)):
        queue.put(job(id, background))
    assert queue.promote("b2") and not queue.promote("i1") and not queue.promote("nobody")
    first, second = queue.get(0), queue.get(0)
    assert first is not None and second is not None
    assert [first.task.id, second.task.id] == ["i1", "b2"]
    assert not second.task.background  # it takes no background slot
    assert ids(queue, 1) == ["b1"]
