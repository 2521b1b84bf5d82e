"""Stand-ins for the worker's main loop, for fast tests of the pool's logic.

Each runs in a spawned process, so it lives in an importable module. A task's ``method``
says what the fake does: ``echo`` answers its params and the worker index as JSON,
``sleep`` sleeps ``params["seconds"]`` first, ``wait`` waits until the file
``params["file"]`` exists, ``fail`` answers a 422 (``invalid_parameter``), ``exit`` ends
the process with ``params["code"]``.
"""

from __future__ import annotations

import json
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from explainer_service.errors import Problem
from explainer_service.workers.task import Done, Failed, Started, StartFailed, Task


def answering(index: int, settings: Any, conn: Connection) -> None:
    conn.send(Started(os.getpid()))
    while True:
        try:
            task: Task | None = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        if task.method == "exit":
            os._exit(task.params["code"])
        if task.method == "sleep":
            time.sleep(task.params["seconds"])
        while task.method == "wait" and not os.path.exists(task.params["file"]):
            time.sleep(0.01)
        if task.method == "fail":
            conn.send(Failed(task.id, Problem("invalid_parameter", "no")))
            continue
        conn.send(Done(task.id, json.dumps({"params": task.params, "worker": index})))


def misconfigured(index: int, settings: Any, conn: Connection) -> None:
    conn.send(StartFailed("explainers.importance: needs labelled data", config=True))


def dying_at_start(index: int, settings: Any, conn: Connection) -> None:
    os._exit(7)


def explaining(index: int, gate: Any, conn: Connection) -> None:
    """Answers every task with a small Explanation (of the method ``stand-in``) once the
    file ``gate`` exists; a task with seed 13 fails with a 422 (``invalid_parameter``)
    instead, one with seed 14 as a model that does not answer (503 ``model_unavailable``)."""
    from explainers.explanation import Cost, Explanation, OtherFidelity, OtherResult, Provenance

    conn.send(Started(os.getpid()))
    while (task := conn.recv()) is not None:
        while not os.path.exists(gate):
            time.sleep(0.01)
        if task.params.get("seed") == 13:
            problem = Problem("invalid_parameter", "seed 13", {"field": "seed"})
            conn.send(Failed(task.id, problem))
            continue
        if task.params.get("seed") == 14:
            conn.send(Failed(task.id, Problem("model_unavailable", "no model")))
            continue
        # a method of its own: pages of anchors, SHAP, ... expect those methods' results
        explanation = Explanation(
            method="stand-in",
            instance=None,
            prediction=None,
            result=OtherResult(method="stand-in", asked=task.method),
            fidelity=OtherFidelity(method="stand-in"),
            cost=Cost(model_calls=1, rows=1, model_seconds=0.0, seconds=0.0),
            provenance=Provenance(
                explainer="fake",
                params=task.params,
                seed=task.params.get("seed"),
                versions={},
                reference_fingerprint="",
                reference_rows=0,
            ),
        )
        conn.send(Done(task.id, explanation.model_dump_json()))


def batch_at_once(
    settings: Any,
    runtime: Any,
    items: list[Any],
    method: str,
    params: Any,
    *,
    store: Any,
    progress: Any = None,
    stop: Any = None,
) -> Any:
    """Stands in for ``batch.run_batch`` without Ray or a model: every row that could be
    read is "computed" at once with the same small SHAP explanation (id ``fake-<i>``)."""
    from explainer_service.batch import Outcome, Report
    from tests.helpers.render_factories import shap

    outcomes = [
        Outcome(None, "failed", error=item.error)
        if item.error
        else Outcome(f"fake-{i}", "computed", shap())
        for i, item in enumerate(items)
    ]
    report = Report("batch-fake", items, outcomes)
    if progress is not None:
        progress(len(items), report.counts())
    return report
