"""The periodic-chore runner: rounds in a thread, failures logged once and survived, wake
and stop. Rounds are observed through a semaphore, never by waiting a while."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from explainer_service.service.chores import Chore, ReadinessCheck, run_chores, running_in_thread
from explainer_service.service.readiness import Readiness
from explainer_service.settings import ServiceSettings

LIMIT_S = 60.0
#: an interval no test waits for: a second round comes from ``wake`` or not at all
NEVER_S = 3600.0


class Scripted(Chore):
    """Each round runs the next step of ``steps`` (none left: does nothing) and then
    releases ``ran``."""

    name = "the scripted chore"

    def __init__(self, interval: float, steps: list[Callable[[], None]] | None = None) -> None:
        super().__init__(interval)
        self.steps = steps or []
        self.rounds = 0
        self.ran = threading.Semaphore(0)

    def run_once(self) -> None:
        self.rounds += 1
        try:
            if self.steps:
                self.steps.pop(0)()
        finally:
            self.ran.release()

    def next_round(self) -> None:
        assert self.ran.acquire(timeout=LIMIT_S), f"no round after {self.rounds}"


class Held:
    """A step that says it has begun (``entered``) and ends once the test lets it
    (``leave``)."""

    def __init__(self) -> None:
        self.entered, self.leave = threading.Event(), threading.Event()

    def __call__(self) -> None:
        self.entered.set()
        assert self.leave.wait(LIMIT_S)


def fails(message: str) -> Callable[[], None]:
    def step() -> None:
        raise RuntimeError(message)

    return step


def test_a_round_that_raises_is_logged_once_while_it_fails_and_the_chore_goes_on(caplog) -> None:
    chore = Scripted(0.01)
    chore.steps = [fails("the store is gone"), fails("the store is gone"), lambda: None]
    chore.steps += [fails("the disk is full"), chore.stop]
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        asyncio.run(asyncio.wait_for(chore.run(), LIMIT_S))
    assert chore.rounds == 5
    ours = [r for r in caplog.records if r.name == "explainer_service"]
    logged = [(r.levelname, r.getMessage()) for r in ours]
    assert logged == [
        ("WARNING", "the scripted chore failed; trying again every 0.01 s: the store is gone"),
        ("INFO", "the scripted chore works again"),
        ("WARNING", "the scripted chore failed; trying again every 0.01 s: the disk is full"),
        ("INFO", "the scripted chore works again"),  # the round that stops it
    ]
    tracebacks = [r.exc_info for r in ours if r.levelname == "WARNING"]
    assert all(info is not None and isinstance(info[1], RuntimeError) for info in tracebacks)


def test_wake_runs_the_next_round_at_once_from_any_thread() -> None:
    chore = Scripted(NEVER_S)
    with running_in_thread(chore):
        chore.next_round()  # the first round runs at the start
        chore.wake()
        chore.next_round()
    assert chore.rounds == 2


def test_a_wake_during_a_round_runs_one_more_after_it() -> None:
    held = Held()
    chore = Scripted(NEVER_S, [held])
    with running_in_thread(chore):
        assert held.entered.wait(LIMIT_S)
        chore.wake()
        held.leave.set()
        chore.next_round()
        chore.next_round()
    assert chore.rounds == 2


def test_stop_ends_the_chore_after_the_round_under_way() -> None:
    held = Held()
    chore = Scripted(NEVER_S, [held])
    thread = threading.Thread(target=asyncio.run, args=(chore.run(),), daemon=True)
    thread.start()
    assert held.entered.wait(LIMIT_S)
    chore.stop()
    held.leave.set()
    thread.join(LIMIT_S)
    assert not thread.is_alive()
    assert chore.rounds == 1
    asyncio.run(asyncio.wait_for(chore.run(), LIMIT_S))  # a stopped chore does not start again
    assert chore.rounds == 1


def test_cancelled_chores_stop() -> None:
    chores = [Scripted(NEVER_S), Scripted(NEVER_S)]

    async def run_then_cancel() -> None:
        running = asyncio.create_task(run_chores(chores))
        for chore in chores:
            await asyncio.to_thread(chore.next_round)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(asyncio.wait_for(run_then_cancel(), LIMIT_S))
    for chore in chores:
        asyncio.run(asyncio.wait_for(chore.run(), LIMIT_S))
        assert chore.rounds == 1


class Probe:
    """Stands in for ``ReadinessProbe``: each check answers the next of ``answers``."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.state = Readiness()

    def check(self) -> None:
        self.state = Readiness(self.answers.pop(0), "checked", 1.0)


def test_readiness_is_checked_again_sooner_while_not_ready() -> None:
    settings = ServiceSettings(ready_interval_s=0.5, ready_recheck_s=30)
    probe = Probe(False, True)
    check = ReadinessCheck(probe, settings)  # type: ignore[arg-type]
    assert check.interval == 0.5  # starting
    check.run_once()
    assert check.interval == 0.5
    check.run_once()
    assert check.interval == 30
