"""The service's work, apart from HTTP: explanations in a worker pool, stored, and readiness.

Explanations are CPU-bound (anchors, shap, counterfactuals) and draw from process-wide random
generators, so they run in worker processes (``explainer_service.workers``), one at a time
each; no explanation engine runs in this process. Here requests are checked, turned into
tasks and de-duplicated by their cache key: a request whose key is in the store is
answered from it; one that is being computed, here or by another process sharing the
store, waits for that computation instead of starting another.

Every accepted request is in the store with its task before it is queued, and this
process holds a lease on it while it lives (``ledger``). Requests whose holder died are
taken over by whichever process sharing the store looks first, so after a crash or a
restart accepted work is done, once. Readiness (``readiness``), lease renewal, orphan
adoption and retention run as periodic chores (``chores``) once the workers have started.

A store that fails is a 503 (``StoreError``) for the requests that meet it, never a hang:
an answer the store did not take is kept in memory (``unstored``) and stored by a chore
once the store writes again; it is never stored as failed for the store's sake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from explainer_service.errors import (
    INTERNAL,
    NotFoundError,
    NotReadyError,
    Problem,
    QueueFullError,
    ShuttingDownError,
    StoreError,
    WorkerError,
    problem_of,
)
from explainer_service.observability import context, logs
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.service.chores import (
    Chore,
    InferenceRetention,
    LeaseRenewal,
    OrphanAdoption,
    ReadinessCheck,
    Retention,
    StoringUnstored,
    run_chores,
)
from explainer_service.service.ledger import Ledger
from explainer_service.service.readiness import MODEL_DOWN, Readiness, ReadinessProbe
from explainer_service.service.unstored import Unstored, UnstoredAnswers
from explainer_service.settings import Settings
from explainer_service.store import Record, Status, Store
from explainer_service.workers import Job, Pool, Setup, Task
from explainers import Explanation

log = logging.getLogger("explainer_service")

#: How often a request waiting for another process's computation looks at the store.
POLL_S = 0.25
#: How often readiness says how many workers have fitted their explainers, at start-up.
STARTING_POLL_S = 0.1


@dataclass
class Ticket:
    """One requested explanation: its id, and the computation when it is not stored yet
    (``future`` is None and ``record`` None when another process computes it)."""

    id: str
    method: str
    record: Record | None
    future: Future[Explanation] | None
    #: whether this request started the computation (a store miss)
    computed: bool = False


class Service:
    """What the routes call: ``tickets`` then ``result`` for an explanation, ``record`` for
    a stored one, ``readiness`` and ``saturation`` for health, ``drain`` and ``close`` to
    stop; ``run_background`` runs for the application's lifetime.

    ``pool``: where explanations run; by default ``service.workers`` worker processes.
    ``candidate``: the runtime of ``models.candidate`` (its cache keys), when configured."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: Store,
        pool: Pool | None = None,
        candidate: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.candidate = candidate
        self.store = store
        #: set on SIGTERM: no new explanations (``drain``)
        self.draining = False
        setup = Setup(settings, runtime.window, candidate.settings if candidate else None)
        self.pool = pool or Pool(setup, settings.service.workers)
        self.pool.on_start = self._started
        #: this process's leases in the store
        self.ledger = Ledger(store, settings.service.lease_s)
        self._inflight: dict[str, tuple[str, Future[Explanation]]] = {}  # key -> id, future
        #: answers computed here that the store did not take yet
        self.unstored = UnstoredAnswers(settings.service.max_unstored)
        # re-entrant: a job done before _submit adds its callback runs _finish (and _forget)
        # at once, in the thread that holds the lock
        self._lock = threading.RLock()
        self._mean_s = 10.0  # seconds an explanation takes, a moving average
        self.metrics = Metrics()
        self.metrics.watch(
            in_flight=self.in_flight,
            waiting=lambda: self.pool.waiting,
            limit=lambda: self.settings.service.max_queue,
            workers=lambda: self.pool.size,
            busy=lambda: len(self.pool.running()),
            unstored=lambda: len(self.unstored),
        )
        self._probe = ReadinessProbe(store, runtime, self.metrics, candidate)
        self._readiness_check = ReadinessCheck(self._probe, settings.service)
        self._retention = Retention(store, settings.service)
        self._chores: list[Chore] = []

    # --- start-up, readiness and leases -------------------------------------------------

    async def run_background(self) -> None:
        """Start the workers and wait until each has fitted its explainers; then run the
        chores (``chores``): check readiness, renew this process's leases, take over the
        requests whose holder died, delete explanations past ``service.retention_days``
        and logged inferences past ``inference_log.retention_days`` and ``max_rows``.
        Cancelled, the chores stop."""
        self.pool.start()
        while not self._probe.workers_fitted(self.pool):
            if self.pool.failure is not None:
                return
            await asyncio.sleep(STARTING_POLL_S)
        lease_s = self.settings.service.lease_s
        self._chores = [
            self._readiness_check,
            LeaseRenewal(self.ledger, self._held),
            OrphanAdoption(self.adopt_orphans, lease_s),
            StoringUnstored(self.store_unstored, self.settings.service.ready_interval_s),
        ]
        if self.settings.service.retention_days is not None:
            self._chores.append(self._retention)
        self._chores.append(InferenceRetention(self.store, self.settings.inference_log))
        await run_chores(self._chores)

    def _held(self) -> list[str]:
        """The ids of the requests computed here (queued, running, or computed and not yet
        stored)."""
        with self._lock:
            computing = [id for id, _ in self._inflight.values()]
        return computing + self.unstored.ids()

    def renew_leases(self) -> int:
        """Renew the leases of the requests computed here (queued, running, or kept in
        ``unstored``); one whose answer could not be kept (beyond ``service.max_unstored``)
        is not among them, so its lease runs out and it is computed again. Answers how many."""
        return self.ledger.renew(self._held())

    def store_unstored(self) -> int:
        """Store the answers the store did not take when they were computed, oldest first;
        answers how many were stored. Raises ``StoreError`` (the rest stay kept) while the
        store still fails. An answer whose request another process took over meanwhile (the
        store was down longer than the lease) is dropped: that process answers it."""
        stored = 0
        for answer in self.unstored.all():
            task = answer.task
            if self.ledger.finish(task.id, answer.explanation):
                stored += 1
                self.metrics.finished(task.method, answer.explanation)
                self._log_done(task, "done", explanation=answer.explanation)
                log.info("stored explanation %s once the store answered again", task.id)
            else:
                log.warning("explanation %s was taken over by another process", task.id)
            self.unstored.discard(answer.key)
        return stored

    def purge(self) -> int:
        """Delete the explanations done or failed more than ``service.retention_days`` ago
        (none when it is unset); answers how many."""
        return self._retention.purge()

    def adopt_orphans(self) -> int:
        """Queue the stored requests whose holder died (as many as the queue has room for);
        answers how many."""
        if self.draining:
            return 0
        room = self.settings.service.max_queue - self.pool.waiting
        adopted = 0
        for record in self.store.orphans(max(room, 0)):
            if record.task is None or record.key is None:
                continue
            if self.unstored.get(record.key) is not None:
                continue  # computed here; its lease ran out while the store was down
            if not self.ledger.take_over(record.id):
                continue  # another process was quicker
            task = self._task(record.id, record.task)
            with self._lock:
                if record.key not in self._inflight:
                    self._submit(record.key, task)
                    adopted += 1
            log.info("took over explanation %s (%s) from %s", record.id, task.method, record.owner)
        return adopted

    @property
    def readiness(self) -> Readiness:
        if self.draining:
            return Readiness(False, "shutting down: no new explanations", time.time())
        return self._probe.state

    def check_readiness(self) -> None:
        """Check the store and the model now (``ReadinessProbe.check``); blocks."""
        self._probe.check()

    def saturation(self) -> dict[str, Any]:
        """How full the queue is, for readiness."""
        waiting, limit = self.pool.waiting, self.settings.service.max_queue
        return {"waiting": waiting, "limit": limit, "saturated": waiting >= limit}

    def in_flight(self) -> int:
        """Explanations this process accepted and has not finished (queued or running)."""
        return len(self._inflight)

    # --- explanations -------------------------------------------------------------------

    def tickets(
        self,
        method: str,
        payload: Any,
        instance: int | str,
        params: Mapping[str, Any] | None,
    ) -> list[Ticket]:
        """Validate the request and start (or find) one explanation per instance asked for.

        ``instance`` is a row index or ``"all"`` (up to ``max_instances`` rows). Blocks on
        the store: call it from a thread, not the event loop.
        """
        with self.metrics.counting_refusals():
            resolved = self._admit(method, params)
            chosen = self.runtime.instances(
                method, payload, instance, self.settings.service.max_instances
            )
        return self._tickets(method, resolved, chosen)

    def tickets_of_rows(
        self,
        method: str,
        rows: list[list[Any]],
        params: Mapping[str, Any] | None,
        *,
        background: bool = False,
        candidate: bool = False,
    ) -> list[Ticket]:
        """``tickets`` for rows already decoded (wire values in schema order: a logged
        inference's); a global method gets one ticket whatever the rows. ``background``:
        nobody waits for them (the explanation policy's), so the pool runs interactive work
        first. ``candidate``: explained with ``models.candidate`` (``NotFoundError`` when it
        is not configured). Blocks on the store."""
        if candidate and self.candidate is None:
            raise NotFoundError("no candidate model: models.candidate is not configured")
        with self.metrics.counting_refusals():
            resolved = self._admit(method, params)
            chosen: list[list[Any] | None] = (
                list(rows) if method in self.runtime.local_methods else [None]
            )
        return self._tickets(method, resolved, chosen, background, candidate)

    def _admit(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The resolved parameters of a request the service takes now (JSON), or the error
        that refuses it: shutting down, not ready, a bad parameter, over the budget."""
        if self.draining:
            raise ShuttingDownError()
        if not self.pool.ready:
            raise NotReadyError(f"not ready: {self._probe.state.reason}")
        checked = self.runtime.resolve_params(method, params)
        self.runtime.check_budget(method, checked)  # before anything is queued
        resolved: dict[str, Any] = checked.model_dump(mode="json")
        return resolved

    def _tickets(
        self,
        method: str,
        resolved: dict[str, Any],
        chosen: list[list[Any] | None],
        background: bool = False,
        candidate: bool = False,
    ) -> list[Ticket]:
        runtime = self.candidate if candidate and self.candidate is not None else self.runtime
        tickets = []
        for row in chosen:
            key = runtime.cache_key(method, resolved, row)
            task: dict[str, Any] = {"method": method, "row": row, "params": resolved}
            if background:  # kept with the task: a process that takes it over keeps it so
                task["background"] = True
            if candidate:  # kept with the task too: the model it is explained with
                task["candidate"] = True
            with self.metrics.counting_refusals():
                ticket = self._ticket(key, task)
            self.metrics.looked_up(_lookup(ticket))
            tickets.append(ticket)
        return tickets

    def _ticket(self, key: str, task: dict[str, Any]) -> Ticket:
        """Raises ``StoreError`` (and has readiness checked at once) when the store fails."""
        try:
            return self._lookup_or_claim(key, task)
        except StoreError:
            self._readiness_check.wake()
            raise

    def _lookup_or_claim(self, key: str, task: dict[str, Any]) -> Ticket:
        method = task["method"]
        kept = self.unstored.get(key)
        if kept is not None:  # computed here, not stored yet: answered from memory
            answered: Future[Explanation] = Future()
            answered.set_result(kept.explanation)
            return Ticket(kept.task.id, method, None, answered)
        with self._lock:
            if key in self._inflight:
                id, future = self._inflight[key]
                if not task.get("background"):  # someone waits for it now
                    self.pool.promote(id)
                return Ticket(id, method, None, future)
            record = self.store.find(key)
            if record is not None and record.status is Status.done:
                return Ticket(record.id, method, record, None)
            if record is not None and self.ledger.held_elsewhere(record):
                return Ticket(record.id, method, None, None)  # another process computes it
            waiting = self.pool.waiting
            if waiting >= self.settings.service.max_queue:
                raise QueueFullError(waiting, self._retry_after(waiting))
            record, held = self.ledger.claim(key, method, task)
            if not held:
                done = record if record.status is Status.done else None
                return Ticket(record.id, method, done, None)
            future = self._submit(key, self._task(record.id, task))
        return Ticket(record.id, method, None, future, computed=True)

    def _task(self, id: str, task: dict[str, Any]) -> Task:
        deadline = self.settings.service.budget.max_seconds
        background = bool(task.get("background", False))
        return Task(
            id,
            task["method"],
            task["row"],
            task["params"],
            deadline,
            background=background,
            candidate=bool(task.get("candidate", False)),
        )

    def _submit(self, key: str, task: Task) -> Future[Explanation]:
        """Queue ``task`` (the caller holds the lock)."""
        job = self.pool.submit(task)
        future: Future[Explanation] = Future()
        self._inflight[key] = (task.id, future)
        job.future.add_done_callback(lambda _: self._finish(key, job, future))
        return future

    def _retry_after(self, waiting: int) -> int:
        """Seconds until the requests waiting now should have started."""
        return max(1, min(600, math.ceil(waiting * self._mean_s / self.pool.size)))

    def _started(self, job: Job) -> None:
        try:
            if not self.ledger.start(job.task.id):
                log.warning("explanation %s was taken over by another process", job.task.id)
        except StoreError as exc:  # it runs all the same; its answer is kept if need be
            log.warning("explanation %s started unrecorded: %s", job.task.id, exc)
            self._readiness_check.wake()

    def _finish(self, key: str, job: Job, future: Future[Explanation]) -> None:
        """Store what the worker answered, then hand it to the waiting requests.

        Runs as the job's done-callback: whatever is raised here, ``future`` gets it (an
        exception escaping a done-callback is only logged, and the waiting request would
        never be answered)."""
        try:
            explanation = self._settle(key, job)
        except BaseException as exc:
            self._forget(key)
            future.set_exception(exc)
        else:
            self._forget(key)
            future.set_result(explanation)

    def _settle(self, key: str, job: Job) -> Explanation:
        """The worker's answer, stored (or kept in ``unstored`` when the store fails: then
        ``StoreError`` is raised for the waiting requests); the worker's error, stored as
        the request's answer, is raised."""
        id = job.task.id
        self.metrics.called_model(job.task.method, job.call_seconds)
        try:
            explanation = Explanation.model_validate_json(job.future.result())
            queued = job.queue_seconds
            explanation.cost.queue_seconds = None if queued is None else round(queued, 6)
            self._mean_s = 0.8 * self._mean_s + 0.2 * explanation.cost.seconds
        except ShuttingDownError:  # the service stops: another process or run does it
            with contextlib.suppress(StoreError):  # then its lease runs out instead
                self.ledger.release(id)
            raise
        except Exception as exc:
            problem = problem_of(exc)
            if problem.code == INTERNAL and not isinstance(exc, WorkerError):
                log.exception("explanation %s failed", id)  # a worker logs its own
            if problem.code in MODEL_DOWN:
                self._readiness_check.wake()  # readiness follows the model now
            try:
                self.ledger.fail(id, problem.record())
            except StoreError:  # the caller gets the error all the same; the lease runs
                self._readiness_check.wake()  # out and the request is computed again
            self.metrics.failed(job.task.method, problem.code)
            self._log_done(job.task, "failed", error=problem.code)
            raise
        try:
            self.ledger.finish(id, explanation)
        except StoreError:
            self._readiness_check.wake()
            self._keep(Unstored(key, job.task, explanation))
            raise
        self.metrics.finished(job.task.method, explanation)
        self._log_done(job.task, "done", explanation=explanation)
        return explanation

    def _keep(self, answer: Unstored) -> None:
        """Keep an answer the store did not take, or let its lease run out (with ``_forget``,
        it is no longer renewed) when ``service.max_unstored`` are kept already."""
        if self.unstored.keep(answer):
            log.warning("explanation %s is kept in memory until the store takes it", answer.task.id)
        else:
            log.warning(
                "explanation %s could not be stored and %d others wait for the store: it "
                "will be computed again once its lease runs out",
                answer.task.id,
                self.unstored.limit,
            )

    def _log_done(
        self,
        task: Task,
        status: str,
        explanation: Explanation | None = None,
        error: str | None = None,
    ) -> None:
        """The explanation's one log record, under the id of the request that asked for it."""
        cost = explanation.cost if explanation is not None else None
        with context.bound(task.request_id, task.traceparent):
            logs.explanation_done(
                task.id,
                task.method,
                self.settings.model.name,
                status,
                request_id=task.request_id,
                seconds=cost.seconds if cost else None,
                model_calls=cost.model_calls if cost else None,
                rows=cost.rows if cost else None,
                error=error,
            )

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    async def result(self, ticket: Ticket, timeout: float | None = None) -> Explanation | None:
        """The explanation, waiting for it up to ``timeout`` seconds (None: no limit);
        None when it is not done by then. Errors of the computation are raised."""
        if ticket.record is not None and ticket.record.explanation is not None:
            return ticket.record.explanation
        if ticket.future is None:
            waiting: Any = self._elsewhere(ticket)
        else:
            waiting = asyncio.shield(asyncio.wrap_future(ticket.future))
        try:
            explanation: Explanation | None = await asyncio.wait_for(waiting, timeout)
        except TimeoutError:
            return None
        return explanation

    async def _elsewhere(self, ticket: Ticket) -> Explanation | None:
        """Wait for a computation another process holds; take it over if that one dies."""
        while True:
            record = await asyncio.to_thread(self.store.get, ticket.id)
            if record is None:
                raise NotFoundError(f"no explanation with id {ticket.id!r}")
            if record.status is Status.done and record.explanation is not None:
                return record.explanation
            if record.status is Status.failed and record.error is not None:
                raise WorkerError(Problem.from_record(record.error))
            if not record.leased() and record.key is not None and record.task is not None:
                task = {**record.task, "background": False}  # someone waits for it here
                mine = await asyncio.to_thread(self._ticket, record.key, task)
                return await self.result(mine)
            await asyncio.sleep(POLL_S)

    def record(self, id: str) -> Record:
        record = self.store.get(id)
        if record is None:
            raise NotFoundError(f"no explanation with id {id!r}")
        return record

    def drain(self, grace_s: float) -> None:
        """Stop taking explanations (readiness says so; new requests get ``ShuttingDownError``),
        give the running ones up to ``grace_s`` seconds to finish, then stop the workers.
        Requests not finished, queued or running, are released in the store, pending, for
        the next process. Blocks: call it from a thread (on SIGTERM: ``server``)."""
        self.draining = True
        running, waiting = len(self.pool.running()), self.pool.waiting
        log.info(
            "shutting down: %d explanations running get up to %.0f s to finish; %d waiting "
            "are handed on",
            running,
            grace_s,
            waiting,
        )
        self.pool.close(grace_s)

    def close(self) -> None:
        """Stop the workers (no process outlives the service), then the rest. Requests
        not finished are released in the store, for the next process."""
        for chore in self._chores:
            chore.stop()
        self.pool.close()
        if len(self.unstored):
            try:  # a last try; else their leases run out and they are computed again
                self.store_unstored()
            except StoreError as exc:
                log.warning("%d explanations could not be stored: %s", len(self.unstored), exc)
        self.runtime.close()
        if self.candidate is not None:
            self.candidate.close()
        self.store.close()


def _lookup(ticket: Ticket) -> str:
    """How the store answered a ticket, for ``Metrics.looked_up``."""
    if ticket.computed:
        return "miss"
    return "hit" if ticket.record is not None else "joined"
