"""The explanation policy: which logged inferences are explained in the background.

``inference_log.policy.rules`` say which: each rule matches an inference when every
condition it sets holds (the predicted class, a share drawn from the inference id, a
probability band) and names the methods that explain each match; an inference gets the
methods of every rule it matches. ``Policy.consider`` decides about complete inferences
(both sides logged: the request's row to explain, the answer the rules read), each once,
and queues a job per chosen method in the store, up to ``max_backlog``; the sink hands
what it logged to ``notice``, and the scheduler's next round decides about it in one
transaction. An inference
logged with one side only is decided about when its other side arrives, and never if it
does not. The jobs run in ``scheduler``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from explainer_service.errors import ConfigError
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.settings import PolicyRule, PolicySettings
from explainer_service.store import Store
from explainer_service.store.inference_jobs import JobState, Queued
from explainer_service.store.inferences import Inference
from explainers import OutputKind

log = logging.getLogger("explainer_service")

#: Complete inferences read from the store per search for those not decided about.
CATCH_UP_ROWS = 500
#: Inferences ``notice`` keeps for the next round at most (the rest: ``catch_up``).
NOTICED_MAX = 10_000


def draw(seed: int, inference_id: str) -> float:
    """A number in [0, 1) fixed by ``seed`` and the inference id: the same in every
    process and every run, and spread evenly over ids."""
    digest = hashlib.sha256(f"{seed}:{inference_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Rule:
    """One configured rule, its class names resolved (``class_names``: the model's
    classes in the order of its scores; None for a regression or unnamed classes)."""

    def __init__(self, settings: PolicyRule, class_names: Sequence[str] | None) -> None:
        self.settings = settings
        self.methods = list(settings.methods)
        #: which of the logged scores ``band`` reads
        self.band_index = -1
        if settings.band_class is not None:
            if class_names is None or settings.band_class not in class_names:
                raise ValueError(f"band_class {settings.band_class!r} is not a class of the model")
            self.band_index = list(class_names).index(settings.band_class)

    def matches(self, inference: Inference) -> bool:
        rule = self.settings
        if rule.label is not None and inference.label != rule.label:
            return False
        if rule.fraction is not None and draw(rule.seed, inference.id) >= rule.fraction:
            return False
        if rule.band is not None:
            value = self.banded(inference.answer)
            if value is None or not rule.band[0] <= value <= rule.band[1]:
                return False
        return True

    def banded(self, answer: dict[str, Any] | None) -> float | None:
        """What ``band`` compares: the probability of the band's class, or a regression's
        value; None for an answer of a label only."""
        if not answer:
            return None
        if isinstance(answer.get("scores"), list):
            scores = answer["scores"]
            if not -len(scores) <= self.band_index < len(scores):
                return None
            return float(scores[self.band_index])
        if isinstance(answer.get("value"), int | float):
            return float(answer["value"])
        return None


class Policy:
    """The configured rules, and the decisions they make. ``on_queued`` is called when
    jobs were queued (the scheduler's ``wake``). Raises ``ConfigError`` for a rule that
    cannot apply to the model: a method that explains no single row, a class the model
    does not have."""

    def __init__(
        self, settings: PolicySettings, runtime: Runtime, store: Store, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.on_queued: Callable[[], None] | None = None
        self._noticed: list[Inference] = []
        self._lock = threading.Lock()
        self.rules = [_checked(i, rule, runtime) for i, rule in enumerate(settings.rules)]

    @property
    def active(self) -> bool:
        """Some rule is configured."""
        return bool(self.rules)

    def choose(self, inference: Inference) -> list[str]:
        """The methods that explain ``inference``: those of every rule it matches, in the
        order the rules name them; none for an incomplete one."""
        if not inference.complete:
            return []
        chosen: dict[str, None] = {}
        for rule in self.rules:
            if rule.matches(inference):
                chosen.update(dict.fromkeys(rule.methods))
        return list(chosen)

    def consider(self, inferences: Sequence[Inference]) -> Queued:
        """Decide about the complete ones of ``inferences`` (those decided about before,
        here or by another replica, are left alone) and queue their jobs. Blocks on the
        store. Counted in ``/metrics``."""
        complete = [inference for inference in inferences if inference.complete]
        if not self.active or not complete:
            return Queued()
        choices = [(inference.id, self.choose(inference)) for inference in complete]
        queued = self.store.queue_inference_jobs(choices, self.settings.max_backlog)
        counted = self.metrics.policy_inferences
        counted.labels("chosen").inc(queued.considered - queued.skipped)
        counted.labels("skipped").inc(queued.skipped)
        for method, state in queued.jobs:
            outcome = "queued" if state is JobState.waiting else "dropped"
            self.metrics.policy_jobs.labels(method, outcome).inc()
        if queued.dropped:
            log.warning(
                "explanation policy: the backlog is full (%d jobs); %d dropped",
                self.settings.max_backlog,
                queued.dropped,
            )
        if queued.queued and self.on_queued is not None:
            self.on_queued()
        return queued

    def notice(self, inferences: Sequence[Inference]) -> None:
        """Keep the complete ones of ``inferences`` for the scheduler's next round, which
        decides about them together (``consider_noticed``: one transaction, not one per
        event); the sink's hook (``on_logged``), cheap and thread-safe. Beyond
        ``NOTICED_MAX`` kept, they are left to the store's search (``catch_up``)."""
        complete = [inference for inference in inferences if inference.complete]
        if not self.active or not complete:
            return
        with self._lock:
            room = NOTICED_MAX - len(self._noticed)
            self._noticed.extend(complete[: max(room, 0)])
        if self.on_queued is not None:
            self.on_queued()

    def consider_noticed(self) -> Queued:
        """``consider`` what ``notice`` kept, at once; blocks on the store."""
        with self._lock:
            noticed, self._noticed = self._noticed, []
        return self.consider(noticed)

    def catch_up(self) -> Queued:
        """Decide about the complete inferences logged within ``look_back_s`` that nobody
        has decided about yet (written by another replica, or by this process before it
        died): one search of the store, at most ``CATCH_UP_ROWS``."""
        if not self.active:
            return Queued()
        found = self.store.unconsidered_inferences(self.settings.look_back_s, CATCH_UP_ROWS)
        return self.consider(found)


def _checked(index: int, rule: PolicyRule, runtime: Runtime) -> Rule:
    where = f"inference_log.policy.rules.{index}"
    for method in rule.methods:
        if method not in runtime.local_methods:
            raise ConfigError(
                f"{where}.methods: {method} explains the model, not one inference; "
                f"choose among {', '.join(runtime.local_methods)}"
            )
    regression = runtime.settings.model.output is OutputKind.regression
    names = runtime.class_names
    if rule.label is not None and (regression or (names is not None and rule.label not in names)):
        known = "a regression has none" if regression else f"the classes: {', '.join(names or [])}"
        raise ConfigError(f"{where}.label: {rule.label!r} is not a class of the model ({known})")
    try:
        return Rule(rule, names)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
