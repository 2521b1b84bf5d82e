"""The explanation policy's jobs, run in the background within its rates.

``PolicyScheduler`` is a chore (``service.chores``): each round it settles the jobs it
started whose explanation is over, decides about the inferences the sink noticed since
the last round, searches the store for complete inferences nobody has decided about
(every ``scan_every_s``), then claims waiting jobs, oldest first, while
the rates allow (``rate``) and fewer than the pool's ``background_slots`` of its jobs are
in flight. A job is an explanation ticket like any other (``Service.tickets_of_rows``,
marked background, so the pool runs interactive work first), under its own request id
``policy-...`` in the logs and at the model; the same row explained before is answered
from the store at once, without counting as a start.

A claimed job is leased to this process (renewed every third of ``service.lease_s``);
when the process dies, another takes it over once the lease has run out and first looks
whether its explanation got done meanwhile. On shutdown the jobs not finished are
released for the next process. A failure on the model's or the service's side (5xx) is
tried again, ``MAX_ATTEMPTS`` times in all; a row the method refuses (4xx) fails at once.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from explainer_service.errors import (
    NotReadyError,
    Problem,
    QueueFullError,
    ShuttingDownError,
    StoreError,
    problem_of,
)
from explainer_service.inferences.policy import Policy
from explainer_service.inferences.policy_rate import Rate
from explainer_service.observability import context
from explainer_service.service import Service, Ticket, owner_id
from explainer_service.service.chores import Chore
from explainer_service.store import Status
from explainer_service.store.inference_jobs import Backlog, InferenceJob, JobState
from explainers import Explanation

log = logging.getLogger("explainer_service")

#: Seconds between rounds when nothing wakes the scheduler sooner.
POLL_S = 1.0
#: Starts of one job at most, when its explanation keeps failing on the server side.
MAX_ATTEMPTS = 3


@dataclass
class _Run:
    """A job this process started, and the ticket of its explanation."""

    job: InferenceJob
    ticket: Ticket

    @property
    def key(self) -> tuple[str, str]:
        return self.job.inference_id, self.job.method


class PolicyScheduler(Chore):
    """Runs ``policy``'s jobs through ``service``, a round every ``interval`` seconds (at
    most a third of ``service.lease_s``) or when woken. ``clock``: seconds since the epoch
    (the scale of the store's ``started_at``)."""

    name = "the explanation policy"

    def __init__(
        self,
        policy: Policy,
        service: Service,
        *,
        clock: Callable[[], float] = time.time,
        interval: float = POLL_S,
    ) -> None:
        self.lease_s = service.settings.service.lease_s
        super().__init__(min(interval, self.lease_s / 3))  # rounds renew the leases
        self.policy = policy
        self.service = service
        self.store = service.store
        settings = policy.settings
        self.rate = Rate(settings.explanations_per_minute, settings.model_calls_per_minute, clock)
        self.clock = clock
        self.owner = owner_id("policy")
        #: the methods some rule names, in order
        self.methods = list(dict.fromkeys(m for rule in policy.rules for m in rule.methods))
        self._running: dict[tuple[str, str], _Run] = {}
        self._estimates: dict[str, int] = {}
        self._renewed = self._scanned = -float("inf")
        #: the store's backlog at the last round (None before the first)
        self.backlog: Backlog | None = None
        policy.on_queued = self.wake

    # --- one round ------------------------------------------------------------------------

    def run_once(self) -> None:
        self._settle()
        now = self.clock()
        if self._running and now - self._renewed >= self.lease_s / 3:
            self.store.renew_inference_jobs(self.owner, self.lease_s)
            self._renewed = now
        self.policy.consider_noticed()
        if self.service.readiness.ready:  # not while starting, draining or the model is down
            if now - self._scanned >= self.policy.settings.scan_every_s:
                self.policy.catch_up()
                self._scanned = now
            self._start()
        self._report()

    def _report(self) -> None:
        self.backlog = backlog = self.store.inference_backlog()
        metrics = self.service.metrics
        metrics.policy_backlog.set(backlog.size)
        oldest = backlog.oldest_waiting
        metrics.policy_lag.set(0.0 if oldest is None else max(time.time() - oldest, 0.0))

    def status(self) -> dict[str, Any]:
        """The backlog as the last round saw it, for readiness."""
        backlog = self.backlog
        oldest = None if backlog is None else backlog.oldest_waiting
        return {
            "waiting": 0 if backlog is None else backlog.waiting,
            "running": 0 if backlog is None else backlog.running,
            "limit": self.policy.settings.max_backlog,
            "lag_s": 0.0 if oldest is None else round(max(time.time() - oldest, 0.0), 3),
        }

    # --- starting -------------------------------------------------------------------------

    def _start(self) -> None:
        """Claim and start jobs while the rates and the background slots allow."""
        while len(self._running) < self.service.pool.background_slots:
            starts = self.store.inference_job_starts(self.rate.since())
            methods = [m for m in self.methods if self.rate.allows(starts, self._estimate(m))]
            job = self.store.claim_inference_job(self.owner, self.lease_s, methods)
            if job is None:
                return
            if (job.inference_id, job.method) in self._running:
                continue  # its lease ran out before a round renewed it: the claim renewed it
            try:
                started = self._begin(job)
            except BaseException:
                with contextlib.suppress(StoreError):
                    self.store.release_inference_job(job.inference_id, job.method, self.owner)
                raise
            if not started:
                return

    def _estimate(self, method: str) -> int:
        """The model calls an explanation of ``method`` may make (its default parameters),
        or the per-explanation budget when the method cannot say."""
        if method not in self._estimates:
            runtime = self.service.runtime
            estimate = runtime.estimate(method, runtime.resolve_params(method, None))
            budget = self.service.settings.service.budget.max_model_calls or 0
            self._estimates[method] = estimate.model_calls if estimate else budget
        return self._estimates[method]

    def _begin(self, job: InferenceJob) -> bool:
        """Start the claimed ``job``, or end it when there is nothing to run; False when
        the service takes no explanation now (the job is released)."""
        if job.explanation_id is not None and self._finished_before(job):
            return True
        inference = self.store.inference(job.inference_id)
        if inference is None or inference.instance is None:  # deleted by retention meanwhile
            self._end_failed(job, Problem("not_found", "the inference is no longer logged"))
            return True
        request_id = f"policy-{secrets.token_hex(8)}"
        try:
            with context.bound(request_id):
                ticket = self.service.tickets_of_rows(
                    job.method, [inference.instance], None, background=True
                )[0]
        except (NotReadyError, QueueFullError):  # ShuttingDownError too: try again later
            self.store.release_inference_job(job.inference_id, job.method, self.owner)
            return False
        except StoreError:
            raise
        except Exception as exc:  # the row or the method's parameters are refused
            self._end_failed(job, problem_of(exc))
            return True
        if ticket.record is not None and ticket.record.explanation is not None:
            self._end_done(job, ticket.id, 0)  # explained before: no start, nothing spent
            return True
        estimate = self._estimate(job.method)
        self.store.start_inference_job(
            job.inference_id, job.method, self.owner, ticket.id, estimate, self.clock()
        )
        run = _Run(job, ticket)
        self._running[run.key] = run
        if ticket.future is not None:
            ticket.future.add_done_callback(lambda _: self.wake())
        log.info(
            "explanation policy: %s of inference %s is explanation %s (request %s)",
            job.method,
            job.inference_id,
            ticket.id,
            request_id,
        )
        return True

    def _finished_before(self, job: InferenceJob) -> bool:
        """A job taken over whose explanation got done meanwhile ends done now."""
        assert job.explanation_id is not None
        record = self.store.get(job.explanation_id)
        if record is None or record.status is not Status.done:
            return False
        self._end_done(job, job.explanation_id, None)
        return True

    # --- settling -------------------------------------------------------------------------

    def _settle(self) -> None:
        """End the jobs whose explanation is over."""
        for run in list(self._running.values()):
            ticket = run.ticket
            if ticket.future is not None:
                if not ticket.future.done():
                    continue
                try:
                    explanation = ticket.future.result()
                except ShuttingDownError:  # the service stops: the next process does it
                    self._release(run)
                    continue
                except Exception as exc:
                    self._failed(run, problem_of(exc))
                    continue
                self._done(run, explanation, computed=ticket.computed)
            else:  # another process computes it
                record = self.store.get(ticket.id)
                if record is None:
                    self._failed(run, Problem("not_found", "the explanation was deleted"))
                elif record.status is Status.done and record.explanation is not None:
                    self._done(run, record.explanation, computed=False)
                elif record.status is Status.failed and record.error is not None:
                    self._failed(run, Problem.from_record(record.error))

    def _done(self, run: _Run, explanation: Explanation, *, computed: bool) -> None:
        """``computed``: this job made the explanation's model calls (not a stored one, nor
        another request's that it joined)."""
        del self._running[run.key]
        calls = explanation.cost.model_calls if computed else 0
        self._end_done(run.job, run.ticket.id, calls)

    def _end_done(self, job: InferenceJob, explanation_id: str, calls: int | None) -> None:
        self.store.end_inference_job(
            job.inference_id,
            job.method,
            self.owner,
            JobState.done,
            model_calls=calls,
            explanation_id=explanation_id,
        )
        self.store.link_explanation(job.inference_id, explanation_id, job.method, None, None)
        self.service.metrics.policy_jobs.labels(job.method, "explained").inc()

    def _failed(self, run: _Run, problem: Problem) -> None:
        """Try a server-side failure again later (``MAX_ATTEMPTS`` starts in all)."""
        del self._running[run.key]
        job = run.job
        if problem.status >= 500 and job.attempts + 1 < MAX_ATTEMPTS:
            log.warning(
                "explanation policy: %s of inference %s failed (%s); trying again later",
                job.method,
                job.inference_id,
                problem.code,
            )
            self.store.release_inference_job(job.inference_id, job.method, self.owner)
            return
        self._end_failed(job, problem)

    def _end_failed(self, job: InferenceJob, problem: Problem) -> None:
        log.warning(
            "explanation policy: %s of inference %s failed: %s",
            job.method,
            job.inference_id,
            problem.message,
        )
        self.store.end_inference_job(
            job.inference_id, job.method, self.owner, JobState.failed, error=problem.record()
        )
        self.service.metrics.policy_jobs.labels(job.method, "failed").inc()

    def _release(self, run: _Run) -> None:
        """The service stops: the job waits for the next process."""
        del self._running[run.key]
        job = run.job
        self.store.release_inference_job(job.inference_id, job.method, self.owner)
        log.info(
            "explanation policy: %s of inference %s released for the next process",
            job.method,
            job.inference_id,
        )

    # --- stopping -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the jobs not finished, for the next process (call it once ``run`` has
        ended). Those already over are settled first."""
        with contextlib.suppress(StoreError):
            self._settle()
        for run in list(self._running.values()):
            with contextlib.suppress(StoreError):
                self._release(run)
        self._running.clear()
