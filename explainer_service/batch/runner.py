"""``run_batch``: explain every item of a batch on Ray, through the service's store.

The driver (this process) does what the service process does for a request: it computes
each row's cache key (``Runtime.cache_key``, so a batch and the service share stored
explanations), answers rows already done from the store, claims the others in the store
with the service's lease ledger (``service.ledger``; the leases are renewed while the
batch runs: a service sharing the store does not compute them meanwhile, and takes them
over if the batch dies), and stores what the workers answer.
The workers (``BatchWorker`` Ray actors, at most ``batch.max_in_flight``) only explain,
one task at a time each, so the model never sees more than that many explanations at once.

A row that fails (the model's error, a worker that died, its deadline) is stored failed
and reported with its error; the batch goes on. Rows that are the same instance are
explained once. Running the batch again computes only what is not done.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from explainer_service.batch.inputs import Item
from explainer_service.batch.worker import BatchWorker
from explainer_service.errors import (
    ConfigError,
    DeadlineExceededError,
    ShuttingDownError,
    WorkerCrashedError,
    problem_of,
)
from explainer_service.runtime import Runtime
from explainer_service.runtime.window import LoggedWindow
from explainer_service.service.chores import LeaseRenewal, running_in_thread
from explainer_service.service.ledger import Ledger, owner_id
from explainer_service.settings import Settings
from explainer_service.store import Status, Store
from explainer_service.workers.task import Done, Task
from explainers import Explanation
from explainers.base import package_versions

log = logging.getLogger("explainer_service.batch")

#: How often the driver looks for finished tasks and passed deadlines.
POLL_S = 0.2
#: How many times Ray starts again a worker that died (each start fits the explainers).
MAX_RESTARTS = 3
#: The logger of Ray's "Token authentication is enabled for this Ray cluster" notice.
RAY_TOKEN_NOTICE = "ray._private.authentication.authentication_token_setup"


@dataclass
class Outcome:
    """What became of one key: ``source`` is ``stored`` (done before this batch),
    ``computed`` (now), or ``failed`` (``error``: code, message, status)."""

    id: str | None
    source: str
    explanation: Explanation | None = None
    error: dict[str, Any] | None = None


@dataclass
class Report:
    """One outcome per item, in the items' order; counts by source; the batch's id (sent to
    the model as ``X-Request-ID``) and wall time."""

    id: str
    items: list[Item]
    outcomes: list[Outcome]
    seconds: float = 0.0
    workers: int = 0

    def counts(self) -> dict[str, int]:
        found = {"stored": 0, "computed": 0, "failed": 0}
        for outcome in self.outcomes:
            found[outcome.source] += 1
        return found


@dataclass
class _Running:
    actor: Any
    key: str
    id: str
    started: float
    killed: bool = False


@dataclass
class _Batch:
    """The driver's state while the workers run."""

    method: str
    params: dict[str, Any]
    settings: Settings
    store: Store
    #: the batch's leases in the store
    ledger: Ledger
    id: str
    results: dict[str, Outcome] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    #: keys another process (a service sharing the store) is computing: key -> record id
    elsewhere: dict[str, str] = field(default_factory=dict)


Progress = Callable[[int, dict[str, int]], None]


_STOPPED = Outcome(
    None,
    "failed",
    error=problem_of(ShuttingDownError("the batch was stopped before this row")).record(),
)


def run_batch(
    settings: Settings,
    runtime: Runtime,
    items: list[Item],
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    store: Store,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Report:
    """Explain ``items`` with ``method`` and ``params`` (checked as a request's: raises
    ``ParameterError`` or ``BudgetExceededError`` before anything runs).

    Connects to Ray only when some row is not in the store yet, and only when this process
    is not connected already (``batch.address``, else a local Ray, stopped at the end).
    ``progress(done, counts)`` is called as rows finish. Once ``stop`` is set, no row is
    started; the running ones are stopped and released in the store (for whoever asks
    next), and every row without an outcome is reported ``shutting_down``."""
    started = time.monotonic()
    resolved = runtime.resolve_params(method, params)
    runtime.check_budget(method, resolved)
    batch = _Batch(
        method,
        resolved.model_dump(mode="json"),
        settings,
        store,
        ledger=Ledger(store, settings.service.lease_s, owner_id("batch")),
        id=f"batch-{secrets.token_hex(6)}",
        stop=stop or threading.Event(),
    )
    keys: list[str | None] = [
        None if item.error else runtime.cache_key(method, batch.params, item.values)
        for item in items
    ]
    rows: dict[str, list[Any]] = {}
    for item, key in zip(items, keys, strict=True):
        if key is not None and item.values is not None:
            rows.setdefault(key, item.values)
    todo = deque(key for key in rows if not _stored(batch, key))
    tracker = _Tracker(items, keys, batch.results, progress)
    tracker.update()
    workers = 0
    if todo:
        connected = connect(settings.batch.address)
        try:
            with running_in_thread(LeaseRenewal(batch.ledger)):
                # the reference rows stay in Ray's object store while the batch runs: a worker
                # that Ray starts again (it died, or passed its deadline) is built from them
                reference = _put(runtime)
                count = min(len(todo), _slots(settings))
                actors = _start_workers(settings, reference, count, runtime.window)
                workers = len(actors)
                try:
                    _dispatch(batch, rows, todo, actors, tracker)
                finally:
                    _stop_workers(actors)  # their CPUs are free for the next batch
                _wait_elsewhere(batch, tracker)
        finally:
            _disconnect(connected)
    outcomes = [
        _item_outcome(item, batch.results.get(key, _STOPPED) if key is not None else None)
        for item, key in zip(items, keys, strict=True)
    ]
    return Report(batch.id, items, outcomes, time.monotonic() - started, workers)


def _item_outcome(item: Item, outcome: Outcome | None) -> Outcome:
    if outcome is None:  # the item could not be read
        return Outcome(None, "failed", error=item.error)
    return outcome


def _stored(batch: _Batch, key: str) -> bool:
    record = batch.store.find(key)
    if record is None or record.status is not Status.done or record.explanation is None:
        return False
    batch.results[key] = Outcome(record.id, "stored", record.explanation)
    return True


class _Tracker:
    """Calls ``progress`` with how many items are finished, by source."""

    def __init__(
        self,
        items: list[Item],
        keys: list[str | None],
        results: dict[str, Outcome],
        progress: Progress | None,
    ) -> None:
        self.per_key: dict[str | None, int] = {}
        for key in keys:
            self.per_key[key] = self.per_key.get(key, 0) + 1
        self.results = results
        self.progress = progress
        self.unreadable = self.per_key.pop(None, 0)

    def update(self) -> None:
        if self.progress is None:
            return
        counts = {"stored": 0, "computed": 0, "failed": self.unreadable}
        for key, outcome in self.results.items():
            counts[outcome.source] += self.per_key.get(key, 0)
        self.progress(sum(counts.values()), counts)


def connect(address: str | None) -> bool:
    """Connect to Ray (``address``; None: start a local Ray) unless connected already;
    answers whether it connected now (the caller then shuts it down). Raises
    ``ConfigError`` when nothing answers at ``address``."""
    import ray

    if ray.is_initialized():
        return False
    # A new local Ray turns token authentication on by itself and says so at WARNING on
    # every start; it is what we want, so that notice is not shown (its errors still are).
    logging.getLogger(RAY_TOKEN_NOTICE).setLevel(logging.ERROR)
    try:
        # "local": a new Ray on this machine, even where `ray start` left one ("auto" joins it)
        ray.init(address=address or "local", include_dashboard=False, logging_level=logging.WARNING)
    except Exception as exc:  # Ray Client raises many kinds (gRPC, psutil, timeouts)
        where = address or "a new local Ray"
        raise ConfigError(f"batch.address: cannot connect to {where}: {exc}") from None
    return True


def _disconnect(connected: bool) -> None:
    if connected:
        import ray

        ray.shutdown()


def _slots(settings: Settings) -> int:
    """Workers to start: ``batch.max_in_flight``, at most what the cluster's CPUs hold."""
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    fits = max(1, int(cpus // settings.batch.cpus_per_worker))
    return min(settings.batch.max_in_flight, fits)


def _put(runtime: Runtime) -> Any:
    import ray

    return ray.put(runtime.reference)


def _start_workers(
    settings: Settings, reference: Any, count: int, window: LoggedWindow | None = None
) -> list[Any]:
    """``count`` Ray actors, each with its explainers fitted on ``reference`` (an object in
    Ray's store) and the logged ``window`` the driver read. Raises ``ConfigError`` when
    they cannot fit them, or run other engine versions than this process."""
    import ray

    actor_class: Any = ray.remote(BatchWorker)
    remote = actor_class.options(num_cpus=settings.batch.cpus_per_worker, max_restarts=MAX_RESTARTS)
    actors = [remote.remote(settings, reference, f"batch-{i}", window) for i in range(count)]
    try:
        described = ray.get([actor.describe.remote() for actor in actors])
    except ray.exceptions.RayError as exc:
        _stop_workers(actors)
        raise ConfigError(f"the batch's workers cannot start: {_cause(exc)}") from None
    ours = package_versions()
    for about in described:
        if about["versions"] != ours:
            _stop_workers(actors)
            raise ConfigError(
                f"a batch worker runs other engine versions ({about['versions']}) than this "
                f"process ({ours}): install the same explainer-service on the cluster"
            )
    return actors


def _stop_workers(actors: list[Any]) -> None:
    import ray

    for actor in actors:
        ray.kill(actor, no_restart=True)


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    return str(getattr(cause, "message", cause)).strip().splitlines()[-1]


def _dispatch(
    batch: _Batch,
    rows: dict[str, list[Any]],
    todo: deque[str],
    actors: list[Any],
    tracker: _Tracker,
) -> None:
    """Hand each key to an idle worker (claimed in the store first), store each answer."""
    import ray

    deadline = batch.settings.service.budget.max_seconds
    idle = list(actors)
    running: dict[Any, _Running] = {}
    while todo or running:
        if batch.stop.is_set():
            for job in running.values():
                batch.ledger.release(job.id)
                ray.kill(job.actor, no_restart=True)
            return
        while idle and todo:
            key = todo.popleft()
            task = {"method": batch.method, "row": rows[key], "params": batch.params}
            record, held = batch.ledger.claim(key, batch.method, task)
            if not held:
                if not _stored(batch, key):
                    batch.elsewhere[key] = record.id
                tracker.update()
                continue
            batch.ledger.start(record.id)
            actor = idle.pop()
            ref = actor.explain.remote(
                Task(record.id, batch.method, rows[key], batch.params, deadline, batch.id)
            )
            running[ref] = _Running(actor, key, record.id, time.monotonic())
        if not running:
            continue
        ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        for ref in ready:
            job = running.pop(ref)
            batch.results[job.key] = _answer(batch, ref, job, deadline)
            idle.append(job.actor)
            tracker.update()
        if deadline is not None:
            now = time.monotonic()
            for job in running.values():
                if not job.killed and now - job.started > deadline:
                    job.killed = True  # Ray starts it again; the task fails
                    ray.kill(job.actor, no_restart=False)


def _answer(batch: _Batch, ref: Any, job: _Running, deadline: float | None) -> Outcome:
    """Store what the worker answered (or why it did not) and say it."""
    import ray

    try:
        answer = ray.get(ref)
    except ray.exceptions.RayError as exc:
        error: Exception = (
            DeadlineExceededError(deadline)
            if job.killed and deadline is not None
            else WorkerCrashedError(-1, None)
        )
        log.warning("batch row %s: %s (%s)", job.id, error, _cause(exc))
        return _failed(batch, job.id, problem_of(error).record())
    if isinstance(answer, Done):
        explanation = Explanation.model_validate_json(answer.explanation)
        batch.ledger.finish(job.id, explanation)
        return Outcome(job.id, "computed", explanation)
    return _failed(batch, job.id, answer.problem.record())


def _failed(batch: _Batch, id: str, error: dict[str, Any]) -> Outcome:
    batch.ledger.fail(id, error)
    return Outcome(id, "failed", error=error)


def _wait_elsewhere(batch: _Batch, tracker: _Tracker) -> None:
    """Wait for the rows another process computes, up to ``service.lease_s`` after its
    holder stops renewing; a row not done by then is reported, to run the batch again."""
    for key, id in batch.elsewhere.items():
        while not batch.stop.is_set():
            record = batch.store.get(id)
            if record is not None and record.status is Status.done and record.explanation:
                batch.results[key] = Outcome(id, "stored", record.explanation)
                break
            if record is None or record.status is Status.failed or not record.leased():
                error = (record.error if record else None) or {
                    "code": "not_done",
                    "message": "another process was computing it and did not finish; "
                    "run the batch again",
                    "detail": {},
                    "status": 503,
                }
                batch.results[key] = Outcome(id, "failed", error=error)
                break
            time.sleep(POLL_S)
        tracker.update()
