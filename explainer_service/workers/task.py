"""One explanation task, the messages a worker answers with, and the worker's main loop.

A task is ``(method, wire row, resolved params)``; the worker answers the Explanation as
JSON, or the error as ``http_error`` made it (status and body), because exceptions with
keyword-only arguments do not survive pickling. Everything here crosses a pipe, so it is
plain data.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from explainer_service.errors import http_error
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import ConfigError, Settings

log = logging.getLogger("explainer_service.worker")

#: Sent with every model call of a worker, valued with the worker's index, so a model
#: server's logs show which worker asked.
WORKER_HEADER = "X-Explainer-Worker"


@dataclass(frozen=True)
class Task:
    """One explanation to compute.

    ``row`` holds wire values in schema order (None for a global method); ``params`` are
    the method's parameters, already resolved and validated by the service.
    """

    id: str
    method: str
    row: list[Any] | None
    params: dict[str, Any]


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
    id: str
    explanation: str  # Explanation JSON


@dataclass(frozen=True)
class Failed:
    id: str
    status: int
    body: dict[str, Any]


Answer = Done | Failed


def run_task(runtime: FittedRuntime, task: Task) -> Answer:
    """Explain ``task`` within the budget; errors become ``Failed``, and only unexpected
    ones are logged."""
    try:
        explainer = runtime.explainer(task.method)
        explanation = explainer.explain(task.row, task.params, runtime.budget)
    except Exception as exc:
        status, body = http_error(exc)
        if body["error"]["code"] == "internal":
            log.exception("explanation %s failed", task.id)
        return Failed(task.id, status, body)
    return Done(task.id, explanation.model_dump_json())


def run_worker(index: int, settings: Settings, conn: Connection) -> None:
    """The main loop of worker ``index``: fit the explainers, say so, then answer one task
    at a time until the service sends None or closes the connection.

    SIGINT is ignored: the service stops its workers itself, after its own shutdown.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        format=f"%(asctime)s worker {index} [%(process)d] %(levelname)s %(name)s: %(message)s"
    )
    settings.model.headers = {**settings.model.headers, WORKER_HEADER: str(index)}
    try:
        runtime = FittedRuntime(settings)
        runtime.fit()
    except ConfigError as exc:
        conn.send(StartFailed(str(exc), config=True))
        return
    except Exception as exc:
        log.exception("cannot fit the explainers")
        conn.send(StartFailed(f"{type(exc).__name__}: {exc}", config=False))
        return
    try:
        conn.send(Started(os.getpid()))
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return  # the service has gone
            if task is None:
                return  # the service stops its workers
            conn.send(run_task(runtime, task))
    except (BrokenPipeError, ConnectionResetError):
        return  # the service has gone while we answered
    finally:
        runtime.close()
