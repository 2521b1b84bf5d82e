"""``Batches``: batches asked for through the HTTP API (``POST /batches``), run in the
service process's background, one at a time, on Ray (``run_batch``, as the command runs
them), into the service's store.

A batch's progress and results are kept in memory (the last ``KEPT`` batches): a restart
forgets them, not the explanations, which are in the store; asking for the same rows
again answers them from it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from explainer_service.batch.inputs import Item, items_of
from explainer_service.batch.runner import Progress, Report, run_batch
from explainer_service.errors import INTERNAL, NotFoundError, QueueFullError, problem_of
from explainer_service.runtime import Runtime
from explainer_service.settings import Settings
from explainer_service.store import Store
from explainers.errors import shown

log = logging.getLogger("explainer_service.batch")

#: How many batches' results are kept, the oldest finished forgotten first (queued and
#: running ones are kept, and bounded by ``batch.max_queued``).
KEPT = 100
#: When a client refused for a full queue of batches is told to ask again (seconds).
QUEUED_RETRY_S = 60

Runner = Callable[..., Report]


@dataclass
class BatchJob:
    """``status``: queued, running, done (every row has its outcome, some may have failed)
    or failed (the batch could not run: ``error``)."""

    id: str
    method: str
    items: list[Item]
    status: str = "queued"
    finished: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"stored": 0, "computed": 0, "failed": 0}
    )
    report: Report | None = None
    error: dict[str, Any] | None = None
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds")
    )


class Batches:
    """``runner``: ``run_batch`` (tests pass a stand-in that does not start Ray)."""

    def __init__(
        self, settings: Settings, runtime: Runtime, store: Store, runner: Runner = run_batch
    ) -> None:
        self.settings, self.runtime, self.store, self.runner = settings, runtime, store, runner
        self._jobs: OrderedDict[str, BatchJob] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="batch")
        self._stop = threading.Event()

    def submit(self, method: str, rows: list[Any], params: Mapping[str, Any]) -> BatchJob:
        """Check the method and parameters as a request's (raises ``ParameterError``,
        ``BudgetExceededError``), read the rows (one that cannot be read is that row's
        error) and queue the batch."""
        self.runtime.check_budget(method, self.runtime.resolve_params(method, params))
        job = BatchJob(f"batch-{secrets.token_hex(8)}", method, items_of(rows, self.runtime))
        with self._lock:
            queued = sum(j.status == "queued" for j in self._jobs.values())
            if queued >= self.settings.batch.max_queued:
                raise QueueFullError(queued, QUEUED_RETRY_S, "batches are waiting to run")
            self._jobs[job.id] = job
            finished = [id for id, j in self._jobs.items() if j.status in ("done", "failed")]
            for id in finished[: max(len(self._jobs) - KEPT, 0)]:  # the oldest first
                del self._jobs[id]
        self._executor.submit(self._run, job, dict(params))
        return job

    def get(self, id: str) -> BatchJob:
        with self._lock:
            job = self._jobs.get(id)
        if job is None:
            raise NotFoundError(f"no batch with id {shown(id)}")
        return job

    def _run(self, job: BatchJob, params: dict[str, Any]) -> None:
        job.status = "running"

        def progress(finished: int, counts: dict[str, int]) -> None:
            job.finished, job.counts = finished, counts

        settings = self.settings.model_copy(deep=True)  # the workers fit this method only
        settings.explainers = {job.method: settings.explainers.get(job.method, {})}
        try:
            job.report = self.runner(
                settings,
                self.runtime,
                job.items,
                job.method,
                params,
                store=self.store,
                progress=progress,
                stop=self._stop,
            )
        except Exception as exc:
            problem = problem_of(exc)
            if problem.code == INTERNAL:
                log.exception("batch %s failed", job.id)
            job.status, job.error = "failed", problem.record()
            return
        job.finished, job.counts = len(job.items), job.report.counts()
        job.status = "done"

    def close(self) -> None:
        """Forget the queued batches and stop the running one: its running rows are
        released in the store, pending, for whoever asks for them next."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["BatchJob", "Batches", "Progress"]
