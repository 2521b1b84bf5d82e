"""Periodic chores: small jobs a process repeats while it lives, on one runner.

A ``Chore`` names itself, says how long to wait between runs (``interval``) and does one
round of its work in ``run_once``, which may block: it runs in a thread
(``asyncio.to_thread``), never on the event loop. A round that raises is logged (a
WARNING, with the traceback unless it is a ``StoreError``, once while it keeps failing the
same way) and the chore goes on. ``wake`` runs it again now rather than after
``interval``; ``stop`` ends it. Both may be called from any thread.

``run_chores`` runs several on the caller's event loop until they are stopped or it is
cancelled; ``running_in_thread`` runs one on an event loop of its own, for code that has
none (a batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import ClassVar

from explainer_service.errors import StoreError
from explainer_service.service.ledger import Ledger
from explainer_service.service.readiness import ReadinessProbe
from explainer_service.settings import InferenceLogSettings, ServiceSettings
from explainer_service.store import Store

log = logging.getLogger("explainer_service")

#: How often explanations older than ``service.retention_days`` are deleted.
RETENTION_EVERY_S = 3600.0


class Chore(ABC):
    """One periodic job; the first round runs as soon as ``run`` starts."""

    #: what it does, for logs
    name: ClassVar[str] = "chore"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        #: the failure logged last, while rounds keep failing
        self._failure: str | None = None

    @property
    def interval(self) -> float:
        """Seconds from the end of one round to the start of the next."""
        return self._interval

    @abstractmethod
    def run_once(self) -> None:
        """One round of the work (in a thread of its own)."""

    def wake(self) -> None:
        """Run the next round now (after the current one, when one is under way)."""
        self._signal()

    def stop(self) -> None:
        """End ``run`` (after the current round, when one is under way)."""
        self._stopping = True
        self._signal()

    def _signal(self) -> None:
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nothing waits
                loop.call_soon_threadsafe(woken.set)

    async def run(self) -> None:
        """Rounds until ``stop`` (or until cancelled)."""
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        try:
            while not self._stopping:
                await self._round()
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.interval)
                self._woken.clear()
        finally:
            self._loop = self._woken = None

    async def _round(self) -> None:
        try:
            await asyncio.to_thread(self.run_once)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            if failure != self._failure:  # once, not at every round
                log.warning(
                    "%s failed; trying again every %g s: %s",
                    self.name,
                    self.interval,
                    exc,
                    exc_info=not isinstance(exc, StoreError),  # a traceback for a bug only
                )
            self._failure = failure
        else:
            if self._failure is not None:
                log.info("%s works again", self.name)
            self._failure = None


async def run_chores(chores: Sequence[Chore]) -> None:
    """Run ``chores`` side by side until each is stopped; cancelled, they stop too."""
    try:
        await asyncio.gather(*(chore.run() for chore in chores))
    finally:
        for chore in chores:
            chore.stop()


@contextlib.contextmanager
def running_in_thread(chore: Chore) -> Iterator[Chore]:
    """``chore`` runs in a thread of its own while the block runs; it is stopped, and its
    round under way finished, when the block ends."""
    thread = threading.Thread(target=asyncio.run, args=(chore.run(),), name=chore.name, daemon=True)
    thread.start()
    try:
        yield chore
    finally:
        chore.stop()
        thread.join()


class ReadinessCheck(Chore):
    """Checks readiness every ``ready_recheck_s`` while ready, every ``ready_interval_s``
    while not; ``wake`` it when the model seems down."""

    name = "the readiness check"

    def __init__(self, probe: ReadinessProbe, settings: ServiceSettings) -> None:
        super().__init__(settings.ready_recheck_s)
        self.probe = probe
        self.settings = settings

    @property
    def interval(self) -> float:
        ready = self.probe.state.ready
        return self.settings.ready_recheck_s if ready else self.settings.ready_interval_s

    def run_once(self) -> None:
        self.probe.check()


class LeaseRenewal(Chore):
    """Renews the ledger's leases every third of their length, so they never run out
    while their holder lives: those of ``held()`` (the requests still being computed),
    or, without it, all the owner holds."""

    name = "lease renewal"

    def __init__(self, ledger: Ledger, held: Callable[[], Collection[str]] | None = None) -> None:
        super().__init__(ledger.lease_s / 3)
        self.ledger = ledger
        self.held = held

    def run_once(self) -> None:
        self.ledger.renew(None if self.held is None else self.held())


class OrphanAdoption(Chore):
    """Takes over the requests whose holder died (``adopt``), every third of ``lease_s``."""

    name = "orphan adoption"

    def __init__(self, adopt: Callable[[], int], lease_s: float) -> None:
        super().__init__(lease_s / 3)
        self.adopt = adopt

    def run_once(self) -> None:
        self.adopt()


class Retention(Chore):
    """Deletes, hourly, the explanations done or failed more than
    ``service.retention_days`` ago (read at each round; unset: none)."""

    name = "retention"

    def __init__(self, store: Store, settings: ServiceSettings) -> None:
        super().__init__(RETENTION_EVERY_S)
        self.store = store
        self.settings = settings

    def run_once(self) -> None:
        self.purge()

    def purge(self) -> int:
        """One round; answers how many were deleted. Every replica does it: it is
        idempotent."""
        days = self.settings.retention_days
        if days is None:
            return 0
        deleted = self.store.purge(days)
        if deleted:
            log.info("deleted %d explanations older than %g days from the store", deleted, days)
        return deleted


class InferenceRetention(Chore):
    """Deletes, hourly, the logged inferences older than ``inference_log.retention_days``
    and then the oldest beyond ``inference_log.max_rows``, with their links to
    explanations and their policy jobs (``InferenceLog.purge_inferences``)."""

    name = "inference log retention"

    def __init__(self, store: Store, settings: InferenceLogSettings) -> None:
        super().__init__(RETENTION_EVERY_S)
        self.store = store
        self.settings = settings

    def run_once(self) -> None:
        self.purge()

    def purge(self) -> int:
        """One round; answers how many were deleted (idempotent, as ``Retention``)."""
        days, most = self.settings.retention_days, self.settings.max_rows
        deleted = self.store.purge_inferences(days, most)
        if deleted:
            log.info(
                "deleted %d logged inferences (older than %s days, or beyond %d)",
                deleted,
                "∞" if days is None else f"{days:g}",
                most,
            )
        return deleted


class StoringUnstored(Chore):
    """Stores the answers the store did not take (``store``: ``Service.store_unstored``)
    every ``interval`` seconds; a round with none kept does nothing."""

    name = "storing the answers the store did not take"

    def __init__(self, store: Callable[[], int], interval: float) -> None:
        super().__init__(interval)
        self.store = store

    def run_once(self) -> None:
        self.store()
