"""The worker pool end to end: the service with two workers against a model server whose
gate the test opens and closes (tests/helpers/servers/gated_model.py), so that an explanation stays
running for as long as a test needs, and the model server sees which worker calls it."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.income import paths
from tests.helpers.sqlite import connected
from tests.helpers.support import (
    ServerProcess,
    explainer_service,
    wait_until_fitted,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

LIMIT_S = 300.0  # generous: the machine may be loaded
APPLICANT = {
    "instances": [
        [42, "Private", "Bachelors", 13, "Married-civ-spouse", "Tech-support", "Husband",
         "White", "Male", 0, 0, 45],
    ]
}  # fmt: skip


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + LIMIT_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


class Model:
    """The gated model server's controls."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.url = base + "/v1/models/income:predict"

    def hold(self, workers: list[int] | str) -> None:
        HTTP.post(self.base + "/hold", json={"workers": workers}).raise_for_status()

    def waiting(self) -> list[str]:
        return list(HTTP.get(self.base + "/waiting").json())

    def calls(self) -> list[dict[str, Any]]:
        return list(HTTP.get(self.base + "/calls").json())

    def held_worker(self) -> int:
        """The worker whose request waits at the gate (exactly one must)."""
        waiting = until(self.waiting, "a request at the gate")
        assert len(set(waiting)) == 1, waiting
        return int(waiting[0])


def config(model_url: str, store: Path, workers: int = 2) -> dict[str, Any]:
    return {
        "model": {
            "name": "income",
            "url": model_url,
            "protocol": "kserve-v1",
            "class_names": paths.CLASS_NAMES,
            "retries": 0,
            "timeout_s": LIMIT_S,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"]},
        "service": {
            "store": str(store),
            "workers": workers,
            "ready_recheck_s": 3600,
            "ready_interval_s": 0.3,
        },
        "explainers": {
            "anchors": {"threshold": 0.95},
            "shap": {"nsamples": 300, "exact": False},  # sampled: the seed matters
            "counterfactual": {"total": 2},
        },
    }


def start_service(
    model: Model, directory: Path, log: Path, workers: int = 2
) -> tuple[ServerProcess, str]:
    process, base = explainer_service(
        config(model.url, directory / "store.sqlite", workers), directory, log
    )
    wait_until_ready(base, timeout=LIMIT_S)
    return process, base


@pytest.fixture(scope="module")
def service(model: Model, tmp_path_factory, output_dir: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("pool")
    process, base = start_service(model, directory, output_dir / "service-pool.log")
    yield base, directory / "store.sqlite"
    process.stop()


def explain(base: str, method: str, **params: Any) -> httpx.Response:
    query = "&".join(f"{k}={v}" for k, v in {"method": method, **params}.items())
    return HTTP.post(f"{base}/explain?{query}", json=APPLICANT, timeout=LIMIT_S)


def workers(base: str) -> list[dict[str, Any]]:
    return list(HTTP.get(base + "/health/ready", timeout=30).json()["workers"])


def forget(store: Path, id: str) -> None:
    """Remove a stored explanation, so that the same request is computed again."""
    with connected(store) as db:
        db.execute("DELETE FROM explanations WHERE id = ?", (id,))


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """An answer without what may differ between two runs of one explanation: timings, and
    the random id of a request stored anew."""
    cost = {k: v for k, v in body["cost"].items() if "seconds" not in k}
    provenance = {k: v for k, v in body["provenance"].items() if k != "created_at"}
    rest = {k: v for k, v in body.items() if k not in ("id", "links")}
    return {**rest, "cost": cost, "provenance": provenance}


def test_two_explanations_call_the_model_at_once(service, gate: Model) -> None:
    base, _ = service
    gate.hold("all")
    with ThreadPoolExecutor(2) as threads:
        answers = [
            threads.submit(explain, base, "anchors", seed=21),
            threads.submit(explain, base, "shap", seed=21),
        ]
        # both workers have a request open at the model at the same moment
        callers = until(lambda: {*gate.waiting()} if len({*gate.waiting()}) == 2 else None, "two")
        assert callers == {"0", "1"}
        gate.hold([])
        assert [a.result().status_code for a in answers] == [200, 200]
    calls = gate.calls()
    assert any(
        a["worker"] != b["worker"] and a["start"] < b["end"] and b["start"] < a["end"]
        for a in calls
        for b in calls
    )


def test_a_cheap_shap_is_not_queued_behind_a_running_anchors(service, gate: Model) -> None:
    base, _ = service
    gate.hold("all")
    with ThreadPoolExecutor(1) as threads:
        anchors: Future[httpx.Response] = threads.submit(explain, base, "anchors", seed=22)
        busy = gate.held_worker()
        gate.hold([busy])  # anchors stays running; the other worker's calls pass
        shap = explain(base, "shap", seed=22)
        assert shap.status_code == 200, shap.text
        assert shap.json()["cost"]["queue_seconds"] is not None
        assert not anchors.done()  # still waiting at the model for the anchors worker
        assert gate.waiting() == [str(busy)]
        assert [(w["index"], w["state"]) for w in workers(base) if w["state"] == "busy"] == [
            (busy, "busy")
        ]
        gate.hold([])
        assert anchors.result().status_code == 200


FILLER_SEEDS = itertools.count(10_000)


def run_on(base: str, gate: Model, worker: int, method: str, seed: int) -> dict[str, Any]:
    """Explain the applicant with ``method`` on ``worker``: the other worker is kept busy
    (its request held at the gate) until ours has started."""

    def filler() -> Future[httpx.Response]:
        return threads.submit(explain, base, "shap", seed=next(FILLER_SEEDS))

    gate.hold("all")
    with ThreadPoolExecutor(3) as threads:
        fillers = [filler()]
        if gate.held_worker() == worker:  # a second filler takes the other worker
            fillers.append(filler())
            until(lambda: len(set(gate.waiting())) == 2, "both workers busy")
            gate.hold([1 - worker])  # our worker finishes its filler and is free again
            until(fillers[0].done, "the first filler")
            gate.hold("all")
        answer = threads.submit(explain, base, method, seed=seed)
        until(lambda: str(worker) in gate.waiting(), f"worker {worker} at the gate")
        gate.hold([])
        for filler in fillers:
            assert filler.result().status_code == 200
        response = answer.result()
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("method", ["anchors", "shap", "counterfactual"])
def test_the_same_seed_gives_the_same_explanation_on_any_worker(
    service, gate: Model, method: str
) -> None:
    base, store = service
    first = run_on(base, gate, 0, method, seed=5)
    forget(store, first["id"])
    second = run_on(base, gate, 1, method, seed=5)
    assert comparable(second) == comparable(first)
    if method == "shap":  # sampled coalitions: another seed, other values
        other = explain(base, "shap", seed=6).json()
        assert other["result"]["contributions"] != first["result"]["contributions"]


def test_the_same_seed_gives_the_same_explanation_after_a_restart(
    model: Model, tmp_path: Path, output_dir: Path
) -> None:
    answers = []
    for run in range(2):
        directory = tmp_path / str(run)  # a new store: computed again
        directory.mkdir()
        log = output_dir / f"service-restart-{run}.log"
        process, base = start_service(model, directory, log, workers=1)
        try:
            answers.append([explain(base, m, seed=9).json() for m in ("anchors", "shap")])
        finally:
            process.stop()
    for before, after in zip(*answers, strict=True):
        assert "result" in before, before
        assert comparable(after) == comparable(before)


def test_a_killed_worker_fails_its_request_and_is_replaced(service, gate: Model) -> None:
    base, _ = service
    gate.hold("all")
    with ThreadPoolExecutor(1) as threads:
        answer = threads.submit(explain, base, "anchors", seed=23)
        index = gate.held_worker()
        victim = workers(base)[index]
        assert victim["state"] == "busy" and victim["task"]
        os.kill(victim["pid"], signal.SIGKILL)
        response = answer.result()
    gate.hold([])
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "worker_crashed"
    assert error["detail"] == {"worker": index, "exit_code": -signal.SIGKILL}
    assert "replaced" in error["message"] and "retried" in error["message"]
    stored = HTTP.get(f"{base}/explanations/{victim['task']}").json()
    assert stored["status"] == "failed" and stored["error"]["code"] == "worker_crashed"
    replaced = until(
        lambda: [
            w
            for w in workers(base)
            if w["index"] == index and w["state"] == "idle" and w["pid"] != victim["pid"]
        ],
        "the replacement",
    )
    assert replaced[0]["restarts"] == victim["restarts"] + 1
    again = explain(base, "anchors", seed=23)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == victim["task"]


def test_a_worker_that_cannot_fit_makes_readiness_say_why(
    model: Model, tmp_path: Path, output_dir: Path
) -> None:
    settings = config(model.url, tmp_path / "store.sqlite", workers=1)
    settings["explainers"] = {"constant": {"fail_fit": True}}  # the test plugin, told to fail
    process, base = explainer_service(
        settings, tmp_path, output_dir / "service-pool-cannot-fit.log"
    )
    try:
        state = wait_until_fitted(base, timeout=LIMIT_S)
        assert not state["ready"]
        assert state["reason"].startswith("cannot fit the explainers: ValueError")
        assert [w["state"] for w in state["workers"]] == ["failed"]
        response = HTTP.post(f"{base}/explain?method=constant", timeout=30)
        assert response.status_code == 503
        assert "cannot fit the explainers" in response.json()["error"]["message"]
    finally:
        process.stop()


def test_stopping_the_service_stops_its_workers(
    model: Model, gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    """Even a busy worker: its model call waits at the gate for longer than the test does,
    so only the service can have stopped it (after its grace period for open requests)."""
    settings = config(model.url, tmp_path / "store.sqlite")
    settings["model"]["timeout_s"] = 10 * LIMIT_S
    settings["service"]["shutdown_grace_s"] = 1
    process, base = explainer_service(settings, tmp_path, output_dir / "service-stop.log")
    wait_until_ready(base, timeout=LIMIT_S)
    pids = [w["pid"] for w in workers(base)]
    assert len(pids) == 2 and all(pids)
    gate.hold("all")
    with ThreadPoolExecutor(1) as threads:
        answer = threads.submit(explain, base, "anchors", seed=24)
        gate.held_worker()
        process.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then ends by the signal it caught
        assert process.process.wait(LIMIT_S) in (0, -signal.SIGTERM)
        with contextlib.suppress(httpx.TransportError):  # or cut off after the grace period
            assert answer.result().status_code >= 500
    process.stop()
    until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), "the workers to exit")
