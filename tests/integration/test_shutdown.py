"""SIGTERM drains the service: it stops taking explanations, lets the running ones (sync and
async) finish within ``service.shutdown_grace_s``, then stops its workers and hands what is
unfinished on, pending in the store. Real service processes against the gated model server,
which holds the workers' model calls for as long as a test needs
(tests/helpers/servers/gated_model.py)."""

from __future__ import annotations

import signal
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.sqlite import connected
from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_durability import durable_config, start
from tests.integration.test_pool import LIMIT_S, Model, config, explain, until

pytestmark = pytest.mark.integration


def stored(store: Path) -> dict[str, tuple[str, str | None, int]]:
    """Each stored explanation's status, owner (None: nobody holds it) and attempts."""
    with connected(store) as db:
        rows = db.execute("SELECT id, status, owner, attempts FROM explanations").fetchall()
    return {id: (status, owner, attempts) for id, status, owner, attempts in rows}


def explain_async(base: str, seed: int) -> httpx.Response:
    return explain(base, "shap", mode="async", seed=seed)


def hold_both_workers(
    gate: Model, base: str, threads: ThreadPoolExecutor, seed: int
) -> tuple[Future[httpx.Response], httpx.Response]:
    """A sync explanation (``seed``) and an async one (``seed + 1``), both running, held at
    the gate: the sync request's future and the async one's 202."""
    gate.hold("all")
    sync = threads.submit(explain, base, "shap", seed=seed)
    running = explain_async(base, seed + 1)
    assert running.status_code == 202, running.text
    until(lambda: len(set(gate.waiting())) == 2, "both workers at the gate")
    return sync, running


def shutting_down(base: str) -> httpx.Response | None:
    """``/health/ready`` once it says the service is shutting down."""
    try:
        answer = HTTP.get(base + "/health/ready", timeout=30)
    except httpx.TransportError:
        return None
    return answer if "shutting down" in answer.json()["reason"] else None


def test_explanations_running_at_sigterm_finish_within_the_grace_period(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    store = tmp_path / "store.sqlite"
    settings: dict[str, Any] = config(gate.url, store)
    settings["service"]["shutdown_grace_s"] = int(LIMIT_S)  # ample on a loaded machine
    process, base = explainer_service(settings, tmp_path, output_dir / "service-drain.log")
    try:
        wait_until_ready(base, timeout=LIMIT_S)
        with ThreadPoolExecutor(1) as threads:
            sync, running = hold_both_workers(gate, base, threads, seed=31)
            queued = explain_async(base, 33)  # no worker is free: it waits in the queue
            assert queued.status_code == 202, queued.text

            process.process.send_signal(signal.SIGTERM)
            readiness = until(lambda: shutting_down(base), "readiness to say it shuts down")
            assert readiness.status_code == 503
            refused = explain_async(base, 34)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "shutting_down"
            assert int(refused.headers["Retry-After"]) >= 1
            # not started: handed on at once, for another process
            queued_id = queued.json()["id"]
            until(lambda: stored(store)[queued_id][:2] == ("pending", None), "queued released")

            gate.hold([])  # the running explanations may finish now
            answer = sync.result()
        assert answer.status_code == 200, answer.text
        assert process.process.wait(LIMIT_S) in (0, -signal.SIGTERM)
    finally:
        process.stop()
    after = stored(store)
    assert after[answer.json()["id"]] == ("done", None, 1)
    assert after[running.json()["id"]] == ("done", None, 1)
    assert after[queued_id] == ("pending", None, 0)
    assert len(after) == 3  # the refused request was never stored


def test_explanations_still_running_after_the_grace_period_are_handed_on(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    """The gate holds them for longer than the grace period: the workers are stopped, the
    sync caller gets a 503, and the next process on the store does them."""
    store = tmp_path / "store.sqlite"
    settings = durable_config(gate, store)
    settings["service"]["shutdown_grace_s"] = 1
    first, base = explainer_service(settings, tmp_path, output_dir / "service-term-1.log")
    try:
        wait_until_ready(base, timeout=LIMIT_S)
        with ThreadPoolExecutor(1) as threads:
            sync, running = hold_both_workers(gate, base, threads, seed=41)
            first.process.send_signal(signal.SIGTERM)
            assert first.process.wait(LIMIT_S) in (0, -signal.SIGTERM)
            answer = sync.result()
    finally:
        first.stop()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "shutting_down"
    released = stored(store)
    assert len(released) == 2 and running.json()["id"] in released
    assert set(released.values()) == {("pending", None, 1)}  # started once, not failed
    gate.hold([])
    second, _ = start(gate, store, tmp_path, output_dir / "service-term-2.log")
    try:
        until(lambda: all(s == "done" for s, *_ in stored(store).values()), "handed-on ones")
    finally:
        second.stop()
