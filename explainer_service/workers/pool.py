"""``Pool``: explanation worker processes, one task at a time each, replaced when they die.

Shaped like MLServer's ``InferencePool``, with one difference: tasks wait in one queue in
the service and a worker takes the next one when it is free, so a cheap task never waits
behind a long one while another worker is idle.

Each worker has a supervising thread in the service process. It starts the process from a
fork server (``forkserver``: a single-threaded process started fresh, nothing is inherited
from the threaded server) that has imported the worker's code and its engines once, so a
worker, and the one that replaces it, starts without importing them again; it waits until
it has fitted its explainers, then hands it one task at a time and waits on the worker's
pipe and its process sentinel together, so a death is seen at once: the task it was
running fails with ``WorkerCrashedError`` and a new process takes its place. The event loop
never reads a pipe; it only puts tasks in the queue and awaits their futures.

A task with a ``deadline_s`` that its worker has not answered by then is stopped by
killing the worker (an engine in native code cannot be interrupted otherwise); the task
fails with ``DeadlineExceededError`` and a new process takes the worker's place.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from explainer_service.errors import (
    DeadlineExceededError,
    ShuttingDownError,
    WorkerCrashedError,
    WorkerError,
)
from explainer_service.settings import Settings
from explainer_service.workers.task import (
    Answer,
    Done,
    Failed,
    Started,
    StartFailed,
    Task,
    run_worker,
)

log = logging.getLogger("explainer_service.pool")

WorkerMain = Callable[[int, Any, Connection], None]

#: imported once by the fork server, before it forks a worker: the engines' libraries that
#: fitting imports (a module that is not installed is skipped)
PRELOADED = ("scipy.spatial", "scipy.special")

#: How often an idle worker's supervisor checks that its process still lives.
IDLE_CHECK_S = 0.2
#: How long a worker told to stop may take before it is killed.
STOP_WAIT_S = 5.0
#: Why a task the pool closed on failed (the service hands it on).
UNFINISHED = "the service stopped before the explanation finished"
#: Waits before starting again a worker that died before it was ready (doubles, capped).
RESTART_BACKOFF_S = (0.5, 30.0)


class WorkerState(StrEnum):
    starting = "starting"  # the process is fitting its explainers
    idle = "idle"
    busy = "busy"
    failed = "failed"  # it could not fit its explainers; not replaced
    stopped = "stopped"


@dataclass
class Job:
    """A submitted task and how far it has got.

    ``future`` gives the Explanation JSON, or raises ``WorkerError`` (the error the
    explanation raised, as its HTTP answer), ``WorkerCrashedError`` or ``ShuttingDownError``
    (the pool closed before it finished). ``worker`` and ``pid`` name the process running it;
    ``call_seconds``, set before the future, the duration of each of its requests to the
    model (none when its worker died).
    """

    task: Task
    future: Future[str] = field(default_factory=Future)
    accepted: float = field(default_factory=time.monotonic)
    started: float | None = None
    worker: int | None = None
    pid: int | None = None
    call_seconds: list[float] = field(default_factory=list)

    @property
    def queue_seconds(self) -> float | None:
        """Seconds between the pool accepting the task and a worker starting it."""
        return None if self.started is None else self.started - self.accepted


@dataclass
class _Worker:
    """The service's side of one worker slot; its process changes when it is replaced."""

    index: int
    state: WorkerState = WorkerState.starting
    process: BaseProcess | None = None
    conn: Connection | None = None
    pid: int | None = None
    job: Job | None = None
    restarts: int = 0
    ready_once: bool = False
    thread: threading.Thread | None = None

    def info(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.pid,
            "state": self.state.value,
            "task": self.job.task.id if self.job else None,
            "restarts": self.restarts,
        }


class _Queue:
    """Jobs waiting for a worker: interactive ones first, first in first out; then a
    background one (``Task.background``), but only while fewer than ``background_slots``
    background jobs run, so that interactive work always finds a worker soon. A job whose
    worker died before it was sent goes back to the front of its lane."""

    def __init__(self, background_slots: int) -> None:
        self._lanes: dict[bool, collections.deque[Job]] = {
            False: collections.deque(),
            True: collections.deque(),
        }
        self._background_slots = background_slots
        self._background_running = 0
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._lanes[False]) + len(self._lanes[True])

    def put(self, job: Job, *, front: bool = False) -> None:
        with self._cond:
            lane = self._lanes[job.task.background]
            lane.appendleft(job) if front else lane.append(job)
            self._cond.notify()

    def get(self, timeout: float) -> Job | None:
        """The next job, waiting up to ``timeout`` seconds; a background job counts as
        running until ``done``."""
        with self._cond:
            self._cond.wait_for(self._next_lane, timeout)
            lane = self._next_lane()
            if lane is None:
                return None
            job = lane.popleft()
            if job.task.background:
                self._background_running += 1
            return job

    def _next_lane(self) -> collections.deque[Job] | None:
        if self._lanes[False]:
            return self._lanes[False]
        if self._lanes[True] and self._background_running < self._background_slots:
            return self._lanes[True]
        return None

    def done(self, job: Job) -> None:
        """``job`` (taken with ``get``) no longer runs."""
        if job.task.background:
            with self._cond:
                self._background_running -= 1
                self._cond.notify_all()

    def promote(self, task_id: str) -> bool:
        """Move the waiting background job of ``task_id`` to the end of the interactive
        lane (someone now waits for it); False when no such job waits."""
        with self._cond:
            for job in self._lanes[True]:
                if job.task.id == task_id:
                    self._lanes[True].remove(job)
                    job.task = dataclasses.replace(job.task, background=False)
                    self._lanes[False].append(job)
                    self._cond.notify()
                    return True
        return False

    def drain(self) -> list[Job]:
        with self._cond:
            jobs = [*self._lanes[False], *self._lanes[True]]
            for lane in self._lanes.values():
                lane.clear()
            self._cond.notify_all()
            return jobs


class Pool:
    """``size`` worker processes, each running ``target(index, settings, conn)``.

    ``settings`` is what each worker receives (pickled): the service's ``Settings`` for
    ``run_worker``. ``on_start(job)`` is called, from a supervising thread, when a worker
    starts a job. ``background_slots``: background tasks running at once, at most (by
    default all workers but one, at least one); interactive tasks go first.
    """

    def __init__(
        self,
        settings: Settings | Any,
        size: int,
        *,
        on_start: Callable[[Job], None] | None = None,
        target: WorkerMain = run_worker,
        background_slots: int | None = None,
    ) -> None:
        self._settings = settings
        self.on_start = on_start
        self._target = target
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([target.__module__, *PRELOADED])
        #: background tasks running at once, at most
        self.background_slots = background_slots or max(1, size - 1)
        self._queue = _Queue(self.background_slots)
        self._workers = [_Worker(i) for i in range(size)]
        self._closing = threading.Event()
        self._spawn_lock = threading.Lock()
        self._started = False
        #: Why the pool cannot serve (a worker could not fit its explainers), or None.
        self.failure: str | None = None

    # --- state ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def ready(self) -> bool:
        """Every worker has fitted its explainers (once: replacing one does not unset it)."""
        return self._started and all(w.ready_once for w in self._workers)

    @property
    def ready_count(self) -> int:
        return sum(w.ready_once for w in self._workers)

    def workers(self) -> list[dict[str, Any]]:
        """index, pid, state, task id and restarts of each worker, for operators."""
        return [w.info() for w in self._workers]

    @property
    def waiting(self) -> int:
        """Jobs queued that no worker has started yet."""
        return len(self._queue)

    def running(self) -> list[Job]:
        """The jobs workers are running now."""
        return [w.job for w in self._workers if w.job is not None]

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers (they fit in the background; see ``ready`` and ``failure``)."""
        if self._started:
            return
        self._started = True
        for worker in self._workers:
            worker.thread = threading.Thread(
                target=self._supervise, args=(worker,), name=f"pool-worker-{worker.index}"
            )
            worker.thread.daemon = True
            worker.thread.start()

    def submit(self, task: Task) -> Job:
        """Queue ``task``; returns at once. Raises ``ShuttingDownError`` once the pool
        closes."""
        if self._closing.is_set():
            raise ShuttingDownError()
        job = Job(task)
        self._queue.put(job)
        return job

    def promote(self, task_id: str) -> bool:
        """An interactive request waits for the background task ``task_id``: if it still
        waits for a worker, it goes with the interactive tasks now."""
        return self._queue.promote(task_id)

    def close(self, grace_s: float = 0.0, timeout: float = 10.0) -> None:
        """Stop every worker and wait for them. Queued tasks fail with ``ShuttingDownError``
        at once; running ones have ``grace_s`` seconds to finish, then their workers are
        terminated and they fail with it too. Idle workers exit on their own; a starting
        one is terminated at once."""
        self._closing.set()
        for job in self._queue.drain():
            _fail(job, ShuttingDownError(UNFINISHED))
        self._terminate(WorkerState.starting)
        self._join(grace_s)  # a worker that finishes its task exits
        self._terminate(WorkerState.starting, WorkerState.busy)
        self._join(timeout)
        for worker in self._workers:
            process = worker.process
            if process is not None and process.is_alive():
                process.kill()
                process.join(5)
        for job in self._queue.drain():
            _fail(job, ShuttingDownError(UNFINISHED))

    def _terminate(self, *states: WorkerState) -> None:
        for worker in self._workers:
            process = worker.process
            if worker.state in states and process is not None and process.is_alive():
                process.terminate()

    def _join(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the supervising threads to end."""
        deadline = time.monotonic() + seconds
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(max(0.0, deadline - time.monotonic()))

    # --- one worker slot, in its own thread -------------------------------------------------

    def _supervise(self, worker: _Worker) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while not self._closing.is_set():
            started = self._start_process(worker)
            if started:
                backoff = RESTART_BACKOFF_S[0]
                self._serve(worker)
            self._reap(worker)
            if started is False:
                worker.state = WorkerState.failed  # it cannot fit: a new one would not either
                return
            if started is None:  # it died before it was ready: wait a little longer each time
                if self._closing.wait(backoff):
                    break
                backoff = min(backoff * 2, RESTART_BACKOFF_S[1])
            if self._closing.is_set():
                break
            worker.restarts += 1
        worker.state = WorkerState.stopped

    def _start_process(self, worker: _Worker) -> bool | None:
        """Start a process and wait until it is ready (True), cannot fit (False) or died
        (None)."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=self._target,
            args=(worker.index, self._settings, theirs),
            name=f"explain-worker-{worker.index}",
            daemon=True,
        )
        worker.state, worker.process, worker.conn = WorkerState.starting, process, ours
        with self._spawn_lock:
            process.start()
        theirs.close()
        worker.pid = process.pid
        if self._closing.is_set():  # close() may have missed it
            process.terminate()
        message = _receive(ours, process)
        if isinstance(message, Started):
            worker.state, worker.ready_once = WorkerState.idle, True
            log.info("worker %d (pid %d) is ready", worker.index, process.pid)
            return True
        if isinstance(message, StartFailed):
            reason = "configuration error" if message.config else "cannot fit the explainers"
            worker.state = WorkerState.failed  # before readiness can say why
            self.failure = self.failure or f"{reason}: {message.message}"
            log.error("worker %d cannot start: %s", worker.index, message.message)
            return False
        if not self._closing.is_set():
            log.warning(
                "worker %d (pid %d) died while starting, exit code %s; starting another",
                worker.index,
                process.pid,
                _exit_code(process),
            )
        return None

    def _serve(self, worker: _Worker) -> None:
        """Hand ``worker`` one job at a time until its process dies or the pool closes."""
        assert worker.process is not None and worker.conn is not None
        process, conn = worker.process, worker.conn
        while not self._closing.is_set():
            job = self._queue.get(IDLE_CHECK_S)
            if not process.is_alive():
                if job is not None:
                    self._queue.done(job)
                    self._queue.put(job, front=True)  # not sent: another worker takes it
                if not self._closing.is_set():
                    log.warning(
                        "worker %d (pid %d) exited while idle, exit code %s; replacing it",
                        worker.index,
                        process.pid,
                        _exit_code(process),
                    )
                return
            if job is None:
                continue
            try:
                if job.future.set_running_or_notify_cancel() and not self._run(
                    worker, job, process, conn
                ):
                    return  # the process was stopped or died: the slot starts another
            finally:
                self._queue.done(job)
        with contextlib.suppress(OSError):
            conn.send(None)  # the pool closes: stop
        process.join(STOP_WAIT_S)

    def _run(self, worker: _Worker, job: Job, process: BaseProcess, conn: Connection) -> bool:
        """Send ``job`` to the worker and settle its future with the answer; False when
        the process was stopped (too late) or died."""
        job.worker, job.pid, job.started = worker.index, process.pid, time.monotonic()
        worker.job, worker.state = job, WorkerState.busy
        self._notify_start(job)
        with contextlib.suppress(OSError):  # if the process died, the sentinel says so
            conn.send(job.task)
        answer = _receive(conn, process, job.task.deadline_s)
        worker.job, worker.state = None, WorkerState.idle
        if answer is _LATE:
            self._stop_late(worker, job, process)
            return False
        if isinstance(answer, Done | Failed):
            job.call_seconds = answer.call_seconds
        if isinstance(answer, Done):
            job.future.set_result(answer.explanation)
        elif isinstance(answer, Failed):
            job.future.set_exception(WorkerError(answer.problem))
        else:
            self._crashed(worker, job, process)
            return False
        return True

    def _crashed(self, worker: _Worker, job: Job, process: BaseProcess) -> None:
        code = _exit_code(process)
        if self._closing.is_set():
            _fail(job, ShuttingDownError(UNFINISHED))
            return
        log.error(
            "worker %d (pid %d) died while explaining %s (%s), exit code %s; replacing it",
            worker.index,
            process.pid,
            job.task.id,
            job.task.method,
            code,
        )
        _fail(job, WorkerCrashedError(worker.index, code))

    def _stop_late(self, worker: _Worker, job: Job, process: BaseProcess) -> None:
        deadline = job.task.deadline_s or 0.0
        log.warning(
            "worker %d (pid %d) passed the deadline of %g s explaining %s (%s); stopping it",
            worker.index,
            process.pid,
            deadline,
            job.task.id,
            job.task.method,
        )
        process.kill()
        _fail(job, DeadlineExceededError(deadline))

    def _notify_start(self, job: Job) -> None:
        if self.on_start is None:
            return
        try:
            self.on_start(job)
        except Exception:
            log.exception("on_start failed for %s", job.task.id)

    def _reap(self, worker: _Worker) -> None:
        process, conn = worker.process, worker.conn
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)
        if conn is not None:
            conn.close()
        worker.conn, worker.pid, worker.job = None, None, None


class _Late:
    """No answer within the deadline."""


_LATE = _Late()


def _receive(
    conn: Connection, process: BaseProcess, timeout: float | None = None
) -> Answer | Started | StartFailed | _Late | None:
    """The worker's next message, None when its process dies first, ``_LATE`` when
    ``timeout`` seconds pass first (blocks the thread)."""
    ready = wait([conn, process.sentinel], timeout)
    if not ready:
        return _LATE
    if conn in ready:
        try:
            message: Answer | Started | StartFailed = conn.recv()
            return message
        except (EOFError, OSError):
            pass
    process.join(5)
    return None


def _exit_code(process: BaseProcess) -> int | None:
    process.join(5)
    return process.exitcode


def _fail(job: Job, error: BaseException) -> None:
    future = job.future
    if not future.done() and (future.running() or future.set_running_or_notify_cancel()):
        future.set_exception(error)
