"""The service's work, apart from HTTP: explanations in a worker pool, stored, and readiness.

Explanations are synchronous and CPU-bound (alibi, shap, dice-ml), so they run in a thread
pool and the event loop stays free for health checks and stored answers. A request whose id
is already in the store is answered from it; one whose id is being computed waits for that
computation instead of starting another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from explainer_service.errors import NotFoundError, NotReadyError, http_error
from explainer_service.runtime import Runtime
from explainer_service.settings import ConfigError, Settings
from explainer_service.store import Record, Status, Store, explanation_id
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
    def __init__(self, settings: Settings, runtime: Runtime, store: Store) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.readiness = Readiness()
        self._pool = ThreadPoolExecutor(settings.service.workers, thread_name_prefix="explain")
        self._inflight: dict[str, Future[Explanation]] = {}
        self._lock = threading.Lock()

    # --- start-up and readiness ---------------------------------------------------------

    async def run_background(self) -> None:
        """Fit the explainers, then keep checking that the model answers."""
        try:
            await asyncio.to_thread(self.runtime.fit)
        except ConfigError as exc:
            self.readiness = Readiness(False, f"configuration error: {exc}", time.time())
            log.error("cannot fit the explainers: %s", exc)
            return
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
        if not self.runtime.fitted:
            raise NotReadyError(f"not ready: {self.readiness.reason}")
        explainer = self.runtime.explainer(method)
        resolved = explainer.resolve_params(params)
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
            tickets.append(self._ticket(id, method, row, resolved))
        return tickets

    def _ticket(self, id: str, method: str, row: list[Any] | None, params: Any) -> Ticket:
        with self._lock:
            if id in self._inflight:
                return Ticket(id, method, None, self._inflight[id])
            record = self.store.get(id)
            if record is not None and record.status is Status.done:
                return Ticket(id, method, record, None)
            self.store.claim(id, method)
            future = self._pool.submit(self._compute, id, method, row, params)
            self._inflight[id] = future
        future.add_done_callback(lambda _: self._forget(id))
        return Ticket(id, method, None, future)

    def _forget(self, id: str) -> None:
        with self._lock:
            self._inflight.pop(id, None)

    def _compute(self, id: str, method: str, row: list[Any] | None, params: Any) -> Explanation:
        self.store.set_status(id, Status.running)
        try:
            explanation = self.runtime.explainer(method).explain(row, params.model_dump())
        except Exception as exc:
            status, body = http_error(exc)
            if status == 500:
                log.exception("explanation %s failed", id)
            self.store.fail(id, {**body["error"], "status": status})
            raise
        self.store.finish(id, explanation)
        return explanation

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
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.runtime.close()
        self.store.close()
