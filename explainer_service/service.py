"""The service's work, apart from HTTP: explanations in a worker pool, stored, and readiness.

Explanations are CPU-bound (alibi, shap, dice-ml) and draw from process-wide random
generators, so they run in worker processes (``explainer_service.workers``), one at a time
each; no explanation engine runs in this process. Here requests are checked, turned into
tasks and de-duplicated: a request whose id is already in the store is answered from it;
one whose id is being computed waits for that computation instead of starting another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from explainer_service.errors import NotFoundError, NotReadyError, WorkerError, http_error
from explainer_service.runtime import Runtime
from explainer_service.settings import Settings
from explainer_service.store import Record, Status, Store, explanation_id
from explainer_service.workers import Job, Pool, Task
from explainers import Explanation

log = logging.getLogger("explainer_service")


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "starting: fitting the explainers"
    checked_at: float = 0.0


@dataclass
class Ticket:
    """One requested explanation: its id, and the computation when it is not stored yet."""

    id: str
    method: str
    record: Record | None
    future: Future[Explanation] | None


class Service:
    """``pool``: where explanations run; by default ``service.workers`` worker processes."""

    def __init__(
        self, settings: Settings, runtime: Runtime, store: Store, pool: Pool | None = None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.readiness = Readiness()
        self.pool = pool or Pool(settings, settings.service.workers)
        self.pool.on_start = self._started
        self._inflight: dict[str, Future[Explanation]] = {}
        self._lock = threading.Lock()

    # --- start-up and readiness ---------------------------------------------------------

    async def run_background(self) -> None:
        """Start the workers and wait until each has fitted its explainers, then keep
        checking that the model answers."""
        self.pool.start()
        while not self.pool.ready:
            if self.pool.failure is not None:
                self.readiness = Readiness(False, self.pool.failure, time.time())
                return
            reason = (
                f"starting: fitting the explainers ({self.pool.ready_count} of "
                f"{self.pool.size} workers ready)"
            )
            self.readiness = Readiness(False, reason, time.time())
            await asyncio.sleep(0.1)
        while True:
            await asyncio.to_thread(self.check_model)
            wait = self.settings.service
            await asyncio.sleep(
                wait.ready_recheck_s if self.readiness.ready else wait.ready_interval_s
            )

    def check_model(self) -> None:
        """Ready when one reference row gets an answer from the model."""
        row = self.runtime.reference[self.runtime.schema.names].iloc[:1].values.tolist()
        try:
            self.runtime.model.predict(row)
        except Exception as exc:
            _, body = http_error(exc)
            self.readiness = Readiness(False, body["error"]["message"], time.time())
        else:
            self.readiness = Readiness(True, "ready", time.time())

    # --- explanations -------------------------------------------------------------------

    def tickets(
        self,
        method: str,
        payload: Any,
        instance: int | str,
        params: Mapping[str, Any] | None,
    ) -> list[Ticket]:
        """Validate the request and start (or find) one explanation per instance asked for.

        ``instance`` is a row index or ``"all"`` (up to ``max_instances`` rows).
        """
        if not self.pool.ready:
            raise NotReadyError(f"not ready: {self.readiness.reason}")
        resolved = self.runtime.resolve_params(method, params)
        self.runtime.check_budget(method, resolved)  # before anything is queued
        chosen = self.runtime.instances(
            method, payload, instance, self.settings.service.max_instances
        )
        schema = self.runtime.schema
        model = self.settings.model
        tickets = []
        for row in chosen:
            canonical = None if row is None else schema.normalise([row])[0]
            id = explanation_id(
                model.name, model.version, method, resolved.model_dump(mode="json"), canonical
            )
            task = Task(id, method, row, resolved.model_dump())
            tickets.append(self._ticket(task))
        return tickets

    def _ticket(self, task: Task) -> Ticket:
        id, method = task.id, task.method
        with self._lock:
            if id in self._inflight:
                return Ticket(id, method, None, self._inflight[id])
            record = self.store.get(id)
            if record is not None and record.status is Status.done:
                return Ticket(id, method, record, None)
            self.store.claim(id, method)
            job = self.pool.submit(task)
            future: Future[Explanation] = Future()
            self._inflight[id] = future
        job.future.add_done_callback(lambda _: self._finish(job, future))
        return Ticket(id, method, None, future)

    def _started(self, job: Job) -> None:
        self.store.set_status(job.task.id, Status.running)

    def _finish(self, job: Job, future: Future[Explanation]) -> None:
        """Store what the worker answered, then hand it to the waiting requests."""
        id = job.task.id
        try:
            explanation = Explanation.model_validate_json(job.future.result())
            queued = job.queue_seconds
            explanation.cost.queue_seconds = None if queued is None else round(queued, 6)
            self.store.finish(id, explanation)
        except Exception as exc:
            status, body = http_error(exc)
            if body["error"]["code"] == "internal" and not isinstance(exc, WorkerError):
                log.exception("explanation %s failed", id)  # a worker logs its own
            self.store.fail(id, {**body["error"], "status": status})
            self._forget(id)
            future.set_exception(exc)
        else:
            self._forget(id)
            future.set_result(explanation)

    def _forget(self, id: str) -> None:
        with self._lock:
            self._inflight.pop(id, None)

    async def result(self, ticket: Ticket, timeout: float | None = None) -> Explanation | None:
        """The explanation, waiting for it up to ``timeout`` seconds (None: no limit);
        None when it is not done by then. Errors of the computation are raised."""
        if ticket.record is not None and ticket.record.explanation is not None:
            return ticket.record.explanation
        assert ticket.future is not None
        waiting = asyncio.shield(asyncio.wrap_future(ticket.future))
        try:
            return await asyncio.wait_for(waiting, timeout)
        except TimeoutError:
            return None

    def record(self, id: str) -> Record:
        record = self.store.get(id)
        if record is None:
            raise NotFoundError(f"no explanation with id {id!r}")
        return record

    def close(self) -> None:
        """Stop the workers (no process outlives the service), then the rest."""
        self.pool.close()
        self.runtime.close()
        self.store.close()
