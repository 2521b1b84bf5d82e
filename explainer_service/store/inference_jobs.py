"""The explanation policy's jobs in the store: one row per (logged inference, method).

A job is ``waiting`` until a process claims it: then ``running``, held by that process
(``owner``) under a lease it renews (``lease_until``, seconds since the epoch, like the
explanations' leases). It ends ``done`` (with the id of its explanation) or ``failed``
(with the error), or is released, ``waiting`` again, by a process that stops. A running
job whose lease expired (its holder died) is claimed again by whichever process looks
first: each claim is one conditional UPDATE, so one process wins. ``dropped``: the policy
chose it while the backlog was full; it stays as a record and is never run.

``started_at`` and ``model_calls`` (the method's estimate while it runs, then what the
explanation reported) are what the policy's rate limits count, across every process
sharing the store. ``inference_considered`` marks each complete inference the policy has
decided about, so that it decides once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from explainer_service.store.record import stamp


class JobState(StrEnum):
    waiting = "waiting"
    running = "running"
    done = "done"
    failed = "failed"
    dropped = "dropped"  # chosen while the backlog was full: never run


#: The states of the backlog: jobs not finished.
BACKLOG = (JobState.waiting, JobState.running)


@dataclass
class InferenceJob:
    inference_id: str
    method: str
    state: JobState
    explanation_id: str | None
    owner: str | None
    attempts: int
    #: when it was queued, seconds since the epoch
    queued_at: float
    started_at: float | None
    model_calls: int | None
    error: dict[str, Any] | None


@dataclass
class Queued:
    """What deciding about some inferences did."""

    #: inferences decided about now (not before, by this process or another)
    considered: int = 0
    #: of those, the ones no method was chosen for
    skipped: int = 0
    #: the method of each job written: waiting (queued) or dropped (the backlog was full)
    jobs: list[tuple[str, JobState]] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(state is JobState.waiting for _, state in self.jobs)

    @property
    def dropped(self) -> int:
        return sum(state is JobState.dropped for _, state in self.jobs)


@dataclass
class Backlog:
    waiting: int
    running: int
    #: when the oldest waiting job was queued (seconds since the epoch), None when none waits
    oldest_waiting: float | None

    @property
    def size(self) -> int:
        return self.waiting + self.running


JOB_COLUMNS = (
    "inference_id, method, state, explanation_id, owner, attempts, queued_at, started_at, "
    "model_calls, error"
)
#: The jobs a process may claim: waiting, or running under an expired lease.
_CLAIMABLE = "(state = ? OR (state = ? AND lease_until < ?))"


def _job(row: Any) -> InferenceJob:
    values = list(row)
    values[2] = JobState(values[2])
    values[9] = json.loads(values[9]) if values[9] else None
    return InferenceJob(*values)


class _Sessions:
    """What the mixin needs of ``Store`` (for the type checker)."""

    def _session(self, atomic: bool = False) -> AbstractContextManager[Any]:
        raise NotImplementedError


class InferenceJobs(_Sessions):
    """The policy's jobs (mixed into ``Store`` through ``InferenceLog``)."""

    def queue_inference_jobs(
        self, choices: Sequence[tuple[str, Sequence[str]]], max_backlog: int
    ) -> Queued:
        """Decide about each inference of ``choices`` (its id, the methods chosen for it)
        once: one already decided about is left alone; for the others a job per method is
        queued, or dropped when ``max_backlog`` jobs wait or run. One transaction; with
        several replicas writing at once, the backlog may pass its bound by their jobs."""
        queued = Queued()
        now, at = time.time(), stamp()
        with self._session(atomic=True) as db:
            backlog: int | None = None  # counted when a job is first chosen
            for inference_id, methods in choices:
                new = db.execute(
                    "INSERT INTO inference_considered (inference_id, considered_at, methods) "
                    "VALUES (?, ?, ?) ON CONFLICT (inference_id) DO NOTHING",
                    (inference_id, at, len(methods)),
                ).rowcount
                if new != 1:
                    continue
                queued.considered += 1
                queued.skipped += not methods
                for method in methods:
                    if backlog is None:
                        backlog = _backlog_size(db)
                    state = JobState.waiting if backlog < max_backlog else JobState.dropped
                    inserted = db.execute(
                        "INSERT INTO inference_jobs (inference_id, method, state, created_at, "
                        "updated_at, queued_at) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (inference_id, method) DO NOTHING",
                        (inference_id, method, state, at, at, now),
                    ).rowcount
                    if inserted == 1:
                        backlog += state is JobState.waiting
                        queued.jobs.append((method, state))
        return queued

    def claim_inference_job(
        self, owner: str, lease_s: float, methods: Collection[str]
    ) -> InferenceJob | None:
        """The oldest claimable job of one of ``methods``, now held by ``owner``; None when
        there is none."""
        if not methods:
            return None
        now = time.time()
        marks = ", ".join("?" * len(methods))
        args = (JobState.waiting, JobState.running, now)
        with self._session() as db:
            candidates = db.execute(
                f"SELECT inference_id, method FROM inference_jobs WHERE {_CLAIMABLE} "
                f"AND method IN ({marks}) ORDER BY queued_at, inference_id, method LIMIT 8",
                (*args, *methods),
            ).fetchall()
            for inference_id, method in candidates:
                taken = db.execute(
                    "UPDATE inference_jobs SET state = ?, owner = ?, lease_until = ?, "
                    f"updated_at = ? WHERE inference_id = ? AND method = ? AND {_CLAIMABLE}",
                    (JobState.running, owner, now + lease_s, stamp(), inference_id, method, *args),
                ).rowcount
                if taken == 1:
                    row = db.execute(
                        f"SELECT {JOB_COLUMNS} FROM inference_jobs "
                        "WHERE inference_id = ? AND method = ?",
                        (inference_id, method),
                    ).fetchone()
                    return _job(row)
        return None

    def start_inference_job(
        self,
        inference_id: str,
        method: str,
        owner: str,
        explanation_id: str,
        model_calls: int,
        now: float,
    ) -> bool:
        """``owner`` started the job's explanation at ``now``, reserving ``model_calls``."""
        return self._update_job(
            "explanation_id = ?, attempts = attempts + 1, started_at = ?, model_calls = ?",
            (explanation_id, now, model_calls),
            inference_id,
            method,
            owner,
        )

    def end_inference_job(
        self,
        inference_id: str,
        method: str,
        owner: str,
        state: JobState,
        *,
        model_calls: int | None = None,
        error: dict[str, Any] | None = None,
        explanation_id: str | None = None,
    ) -> bool:
        """The job is ``done`` or ``failed`` (``model_calls``: what it cost, when known;
        ``explanation_id``: its explanation, when it was not started)."""
        return self._update_job(
            "state = ?, owner = NULL, lease_until = 0, model_calls = COALESCE(?, model_calls), "
            "error = ?, explanation_id = COALESCE(?, explanation_id)",
            (state, model_calls, None if error is None else json.dumps(error), explanation_id),
            inference_id,
            method,
            owner,
        )

    def release_inference_job(self, inference_id: str, method: str, owner: str) -> bool:
        """Give the job up unfinished: waiting, for any process at once."""
        return self._update_job(
            "state = ?, owner = NULL, lease_until = 0",
            (JobState.waiting,),
            inference_id,
            method,
            owner,
        )

    def _update_job(
        self, assignments: str, values: tuple[Any, ...], inference_id: str, method: str, owner: str
    ) -> bool:
        with self._session() as db:
            return bool(
                db.execute(
                    f"UPDATE inference_jobs SET {assignments}, updated_at = ? "
                    "WHERE inference_id = ? AND method = ? AND owner = ? AND state = ?",
                    (*values, stamp(), inference_id, method, owner, JobState.running),
                ).rowcount
                == 1
            )

    def renew_inference_jobs(self, owner: str, lease_s: float) -> int:
        """Extend the leases of the jobs ``owner`` runs; answers how many."""
        with self._session() as db:
            return int(
                db.execute(
                    "UPDATE inference_jobs SET lease_until = ? WHERE owner = ? AND state = ?",
                    (time.time() + lease_s, owner, JobState.running),
                ).rowcount
            )

    def inference_job_starts(self, since: float) -> list[tuple[float, int]]:
        """When each job started at or after ``since`` (seconds since the epoch) started,
        and its model calls (reserved or reported), oldest first."""
        with self._session() as db:
            rows = db.execute(
                "SELECT started_at, model_calls FROM inference_jobs WHERE started_at >= ? "
                "ORDER BY started_at",
                (since,),
            ).fetchall()
        return [(float(at), int(calls or 0)) for at, calls in rows]

    def inference_backlog(self) -> Backlog:
        with self._session() as db:
            rows = db.execute(
                "SELECT state, COUNT(*), MIN(queued_at) FROM inference_jobs "
                "WHERE state IN (?, ?) GROUP BY state",
                BACKLOG,
            ).fetchall()
        counts = {state: (int(n), oldest) for state, n, oldest in rows}
        waiting, oldest = counts.get(JobState.waiting, (0, None))
        return Backlog(waiting, counts.get(JobState.running, (0, None))[0], oldest)

    def inference_jobs(self, inference_id: str) -> list[InferenceJob]:
        """The policy's jobs of one inference, by method."""
        with self._session() as db:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM inference_jobs WHERE inference_id = ? ORDER BY method",
                (inference_id,),
            ).fetchall()
        return [_job(row) for row in rows]

    def inference_job_counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        with self._session() as db:
            rows = db.execute(
                "SELECT state, COUNT(*) FROM inference_jobs GROUP BY state"
            ).fetchall()
        return {JobState(state): int(n) for state, n in rows}


def _backlog_size(db: Any) -> int:
    return int(
        db.execute("SELECT COUNT(*) FROM inference_jobs WHERE state IN (?, ?)", BACKLOG).fetchone()[
            0
        ]
    )
