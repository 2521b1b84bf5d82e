"""Accepted explanations survive their process: a SIGKILL during 40 async jobs, then a
restart on the same store, finishes each once; two processes sharing a store compute each
request once. Real service processes against the gated model server, which holds the
workers' model calls for as long as a test needs (tests/servers/gated_model.py)."""

from __future__ import annotations

import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, config, until
from tests.support import ServerProcess, explainer_service, wait_until_ready

pytestmark = pytest.mark.integration

JOBS = 40
LEASE_S = 2


def durable_config(model: Model, store: Path) -> dict[str, Any]:
    settings = config(model.url, store)
    settings["service"].update(lease_s=LEASE_S, max_queue=JOBS + 10)
    return settings


def start(model: Model, store: Path, directory: Path, log: Path) -> tuple[ServerProcess, str]:
    process, base = explainer_service(durable_config(model, store), directory, log)
    wait_until_ready(base, timeout=LIMIT_S)
    return process, base


def attempts(store: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT id, status, attempts FROM explanations").fetchall()
    return {id: (status, n) for id, status, n in rows}


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:4]
    except OSError:
        return "(Z)"


def test_after_a_sigkill_every_accepted_job_finishes_exactly_once(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    store = tmp_path / "store.sqlite"
    first, base = start(gate, store, tmp_path, output_dir / "service-sigkill-1.log")
    workers = [w["pid"] for w in httpx.get(base + "/health/ready", timeout=30).json()["workers"]]
    gate.hold("all")
    ids = []
    for seed in range(JOBS):
        answer = httpx.post(
            f"{base}/explain?method=shap&mode=async&seed={seed}", json=APPLICANT, timeout=LIMIT_S
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    assert len(set(ids)) == JOBS
    until(lambda: len(set(gate.waiting())) == 2, "both workers at the gate")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(LIMIT_S)
    first.stop()
    # the kernel stops the workers with the service, so none keeps calling the model
    until(lambda: not any(alive(pid) for pid in workers), "the workers to die with it")
    before = attempts(store)
    running = [id for id, (status, _) in before.items() if status == "running"]
    assert len(running) == 2 and all(before[id][0] in ("pending", "running") for id in ids)

    gate.hold([])
    second, base = start(gate, store, tmp_path, output_dir / "service-sigkill-2.log")
    try:

        def finished() -> bool:
            return all(status == "done" for status, _ in attempts(store).values())

        until(finished, "every accepted job to finish after the restart")
        after = attempts(store)
        assert set(after) == set(ids)
        for id in ids:  # those running at the kill ran twice, the others once
            assert after[id][1] == (2 if id in running else 1), (id, after[id])
        for id in ids:
            body = httpx.get(f"{base}/explanations/{id}", timeout=30).json()
            assert body["id"] == id and body["method"] == "shap"
    finally:
        second.stop()


def test_two_processes_on_one_store_compute_each_request_once(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    store = tmp_path / "store.sqlite"
    one, base_one = start(gate, store, tmp_path, output_dir / "service-shared-1.log")
    two, base_two = start(gate, store, tmp_path, output_dir / "service-shared-2.log")
    try:

        def explain(base: str, seed: int) -> httpx.Response:
            return httpx.post(
                f"{base}/explain?method=shap&seed={seed}", json=APPLICANT, timeout=LIMIT_S
            )

        with ThreadPoolExecutor(8) as threads:
            pairs = [
                (threads.submit(explain, base_one, s), threads.submit(explain, base_two, s))
                for s in range(100, 112)
            ]
            answers = [(a.result(), b.result()) for a, b in pairs]
        for a, b in answers:
            assert a.status_code == b.status_code == 200, (a.text, b.text)
            assert a.json()["id"] == b.json()["id"]
            assert a.json()["result"] == b.json()["result"]
        counted = attempts(store)
        assert len(counted) == 12
        assert all(n == 1 for _, n in counted.values()), counted
    finally:
        one.stop()
        two.stop()
