"""One explanation task, the messages a worker answers with, and the worker's main loop.

A task is ``(method, wire row, resolved params)``; the worker answers the Explanation as
JSON, or the error as a ``Problem`` (code, message, detail), because exceptions with
keyword-only arguments do not survive pickling. Everything here crosses a pipe, so it is
plain data.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from explainer_service.errors import (
    INTERNAL,
    ConfigError,
    ModelError,
    NotFoundError,
    Problem,
    problem_of,
)
from explainer_service.observability import context, logs
from explainer_service.observability.context import current_traceparent
from explainer_service.runtime import FittedRuntime
from explainer_service.runtime.window import LoggedWindow
from explainer_service.settings import Settings, candidate_label

log = logging.getLogger("explainer_service.worker")

#: Sent with every model call of a worker, valued with the worker's index, so a model
#: server's logs show which worker asked.
WORKER_HEADER = "X-Explainer-Worker"


@dataclass(frozen=True)
class Task:
    """One explanation to compute.

    ``row`` holds wire values in schema order (None for a global method); ``params`` are
    the method's parameters, already resolved and validated by the service. A worker that
    has not answered ``deadline_s`` seconds after it started the task is stopped.
    ``request_id``: the request that asked for it first (by default the current one), for
    the worker's log records and the calls to the model, with that request's
    ``traceparent``. ``background``: nobody waits for it (the explanation policy's work);
    the pool runs interactive tasks first. ``candidate``: explained with
    ``models.candidate`` instead of ``model`` (``compare=candidate``).
    """

    id: str
    method: str
    row: list[Any] | None
    params: dict[str, Any]
    deadline_s: float | None = None
    request_id: str | None = field(default_factory=context.current)
    traceparent: str | None = field(default_factory=current_traceparent)
    background: bool = False
    candidate: bool = False


@dataclass(frozen=True)
class Setup:
    """What a worker is built from (the ``settings`` a ``Pool`` hands ``run_worker``): the
    settings the service resolved, and the logged inferences of ``data.window`` the service
    read (None: not configured), so that every worker, a replacement too, fits on the rows
    the service's cache keys name. ``candidate``: ``settings.candidate()``, whose explainers
    a worker fits when it is first asked for one of its explanations."""

    settings: Settings
    window: LoggedWindow | None = None
    candidate: Settings | None = None


@dataclass(frozen=True)
class Started:
    """The worker has fitted its explainers and waits for tasks."""

    pid: int


@dataclass(frozen=True)
class StartFailed:
    """The worker cannot fit its explainers; ``config``: the configuration is at fault, so a
    new worker would fail the same way."""

    message: str
    config: bool


@dataclass(frozen=True)
class Done:
    """``call_seconds``: the duration of each HTTP request to the model the task made."""

    id: str
    explanation: str  # Explanation JSON
    call_seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Failed:
    """``problem``: the error as a client may read it (the service raises it again as a
    ``WorkerError``)."""

    id: str
    problem: Problem
    call_seconds: list[float] = field(default_factory=list)


Answer = Done | Failed


def run_task(runtime: FittedRuntime, task: Task) -> Answer:
    """Explain ``task`` within the budget; errors become ``Failed`` with the body a client
    may read. A model's failure is logged once, with what the client does not see (the URL,
    the model's answer); an unexpected error with its traceback; the caller's errors not at
    all. ``call_seconds``: the model's requests since the last task, which are this task's
    (a worker runs one at a time, and fitting its explainers calls no model)."""
    with context.bound(task.request_id, task.traceparent):
        try:
            explanation = runtime.run(task.method, task.row, task.params)
        except Exception as exc:
            problem = problem_of(exc)
            if isinstance(exc, ModelError):
                log.warning("explanation %s: %s", task.id, exc)
            elif problem.code == INTERNAL:
                log.exception("explanation %s failed", task.id)
            return Failed(task.id, problem, runtime.model.take_durations())
    return Done(task.id, explanation.model_dump_json(), runtime.model.take_durations())


def _die_with_the_service() -> None:
    """Exit at once when the service dies, even by SIGKILL, so that no orphaned worker keeps
    calling the model for a request nobody will store. A worker's parent is the pool's fork
    server, which lives as long as any worker holds its end of the server's pipe, so the
    kernel's parent-death signal would never come: a thread waits on the service instead."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    watch = threading.Thread(target=_exit_with, args=(parent.pid,), name="service-watch")
    watch.daemon = True
    watch.start()


def _exit_with(pid: int) -> None:
    """Ends this process when process ``pid`` ends: on Linux by its pidfd, elsewhere by
    looking every second."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)  # the service died before we looked
    except (AttributeError, OSError):  # no pidfd (not Linux, or a kernel before 5.3)
        while _exists(pid):
            time.sleep(1)
        os._exit(1)
    watch = select.poll()
    watch.register(fd, select.POLLIN)  # readable once the process has ended
    watch.poll()
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_worker(index: int, setup: Setup | Settings, conn: Connection) -> None:
    """The main loop of worker ``index``: fit the explainers, say so, then answer one task
    at a time until the service sends None or closes the connection.

    SIGINT is ignored: the service stops its workers itself, after its own shutdown.
    """
    if isinstance(setup, Settings):
        setup = Setup(setup)
    settings = setup.settings
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_the_service()
    text = (
        f"%(asctime)s worker {index} [%(process)d] %(levelname)s %(name)s "
        "[request %(request_id)s]: %(message)s"
    )
    logging.basicConfig(handlers=[logs.handler(text=text, static={"worker": index})])
    settings.model.headers = {**settings.model.headers, WORKER_HEADER: str(index)}
    try:
        runtime = FittedRuntime(settings, window=setup.window, announce=False)
        runtime.fit()
    except ConfigError as exc:
        conn.send(StartFailed(str(exc), config=True))
        return
    except Exception as exc:
        log.exception("cannot fit the explainers")
        conn.send(StartFailed(f"{type(exc).__name__}: {exc}", config=False))
        return
    runtimes = _Runtimes(runtime, setup, index)
    try:
        conn.send(Started(os.getpid()))
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return  # the service has gone
            if task is None:
                return  # the service stops its workers
            conn.send(runtimes.run(task))
    except (BrokenPipeError, ConnectionResetError):
        return  # the service has gone while we answered
    finally:
        runtimes.close()


class _Runtimes:
    """A worker's fitted runtimes: the model's, and the candidate's once a task asks for it
    (its explainers are fitted then, method by method, as the model's are on first use)."""

    def __init__(self, model: FittedRuntime, setup: Setup, index: int) -> None:
        self.model = model
        self._setup = setup
        self._index = index
        self._candidate: FittedRuntime | None = None

    def run(self, task: Task) -> Answer:
        if not task.candidate:
            return run_task(self.model, task)
        settings = self._setup.candidate
        if settings is None:  # the service refuses such a request before it is queued
            message = "no candidate model: models.candidate is not configured"
            return Failed(task.id, problem_of(NotFoundError(message)))
        if self._candidate is None:
            settings.model.headers = {**settings.model.headers, WORKER_HEADER: str(self._index)}
            try:
                self._candidate = FittedRuntime(
                    settings,
                    reference=self.model.reference,
                    window=self._setup.window,
                    announce=False,
                    label=candidate_label(settings.model),
                )
            except Exception as exc:
                log.exception("cannot build the candidate's runtime")
                return Failed(task.id, problem_of(exc))
        return run_task(self._candidate, task)

    def close(self) -> None:
        self.model.close()
        if self._candidate is not None:
            self._candidate.close()
