"""Readiness: whether this process should get explanations to do, and why not.

Ready once every worker has fitted its explainers, the store answers and takes a write
(``Store.ping``: a full disk or a read-only store is not ready) and one reference row gets
an answer from the model. With ``models.candidate``, the same row is sent to the candidate
too: a candidate that does not answer leaves the service ready (it explains with ``model``)
with the comparison degraded (``Readiness.candidate`` says why, naming the candidate).
``ReadinessProbe.check`` runs as a periodic chore (``chores.ReadinessCheck``), sooner while
not ready, and at once after an explanation found the model down (``MODEL_DOWN``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from explainer_service.errors import StoreError, StoreReplacedError, problem_of
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.store import Store
from explainer_service.workers import Pool

log = logging.getLogger("explainer_service")

#: readiness's reason while the store cannot be reached or cannot write
STORE_DOWN = "the explanation store does not answer"
#: ... and while the SQLite store's file was deleted or replaced under the service
STORE_REPLACED = "the explanation store's file was deleted or replaced: restart the service"

#: Errors after which the model is checked again at once: readiness follows the model.
MODEL_DOWN = frozenset({"model_unavailable", "model_timeout"})


@dataclass(frozen=True)
class CandidateReadiness:
    """Whether ``models.candidate`` answered the last check; ``reason`` names it."""

    ready: bool
    reason: str
    name: str
    version: str | None


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "starting: fitting the explainers"
    #: when it was decided, seconds since the epoch
    checked_at: float = 0.0
    #: models.candidate at the last check that reached the model; None: not configured,
    #: or not checked yet
    candidate: CandidateReadiness | None = None


class ReadinessProbe:
    """Holds the last readiness (``state``) and decides the next one."""

    def __init__(
        self, store: Store, runtime: Runtime, metrics: Metrics, candidate: Runtime | None = None
    ) -> None:
        """``candidate``: the runtime of ``models.candidate`` (its model client names it in
        its errors), checked after the model."""
        self.store = store
        self.runtime = runtime
        self.candidate = candidate
        self.metrics = metrics
        self.state = Readiness()

    def workers_fitted(self, pool: Pool) -> bool:
        """Whether every worker has fitted its explainers; until then the reason says how
        many have, or why they cannot (``pool.failure``)."""
        if pool.ready:
            return True
        reason = pool.failure or (
            f"starting: fitting the explainers ({pool.ready_count} of {pool.size} workers ready)"
        )
        self.state = Readiness(False, reason, time.time())
        return False

    def check(self) -> None:
        """Ready when the store answers and one reference row gets an answer from the model.
        The store first: a replica that cannot reach a shared store answers every
        explanation 503, so a load balancer should send it none. Blocks on both."""
        try:
            self.store.ping()
        except StoreError as exc:
            reason = STORE_REPLACED if isinstance(exc, StoreReplacedError) else STORE_DOWN
            if self.state.reason != reason:  # once, not at every check
                log.warning("not ready: %s", exc)  # its message has no password
            self.state = Readiness(False, reason, time.time())
            return
        row = self.runtime.reference[self.runtime.schema.names].iloc[:1].values.tolist()
        try:
            self.runtime.model.predict(row)
        except Exception as exc:
            if self.state.ready:  # the full cause, URL included, for operators only
                log.warning("not ready: the model does not answer: %s", exc)
            self.state = Readiness(False, problem_of(exc).message, time.time())
        else:
            if not self.state.ready and self.state.checked_at:
                log.info("ready: the store and the model answer")
            self.state = Readiness(True, "ready", time.time(), self._candidate(row))
        finally:  # the only requests to the model this process makes
            self.metrics.called_model("readiness", self.runtime.model.take_durations())

    def _candidate(self, row: list[list[object]]) -> CandidateReadiness | None:
        """``row`` sent to ``models.candidate``; None when none is configured."""
        if self.candidate is None:
            return None
        model = self.candidate.settings.model
        before = self.state.candidate
        try:
            self.candidate.model.predict(row)
        except Exception as exc:
            reason = problem_of(exc).message  # names the candidate (RemoteModel.label)
            if before is None or before.ready:
                log.warning("compare degraded: %s", exc)
            return CandidateReadiness(False, reason, model.name, model.version)
        else:
            if before is not None and not before.ready:
                log.info("compare restored: models.candidate answers")
            return CandidateReadiness(True, "ready", model.name, model.version)
        finally:
            self.metrics.called_model("readiness", self.candidate.model.take_durations())
