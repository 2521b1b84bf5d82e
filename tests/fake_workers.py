"""Stand-ins for the worker's main loop, for fast tests of the pool's logic.

Each runs in a spawned process, so it lives in an importable module. A task's ``method``
says what the fake does: ``echo`` answers its params and the worker index as JSON,
``sleep`` sleeps ``params["seconds"]`` first, ``fail`` answers a 422, ``exit`` ends the
process with ``params["code"]``.
"""

from __future__ import annotations

import json
import os
import time
from multiprocessing.connection import Connection
from typing import Any

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
        if task.method == "fail":
            body = {"error": {"code": "invalid_parameter", "message": "no", "detail": {}}}
            conn.send(Failed(task.id, 422, body))
            continue
        conn.send(Done(task.id, json.dumps({"params": task.params, "worker": index})))


def misconfigured(index: int, settings: Any, conn: Connection) -> None:
    conn.send(StartFailed("explainers.importance: needs labelled data", config=True))


def dying_at_start(index: int, settings: Any, conn: Connection) -> None:
    os._exit(7)
