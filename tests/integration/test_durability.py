"""Accepted explanations survive their process: a SIGKILL during 8 async jobs, then a
restart on the same store, finishes each once; two processes sharing a store compute each
request once; a job of a replica killed mid-way is finished by the other once its lease
expires. On both backends: a SQLite file, and a database of a real PostgreSQL server
(tests/helpers/postgres.py). Real service processes against the gated model server, which holds
the workers' model calls for as long as a test needs (tests/helpers/servers/gated_model.py)."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.helpers.postgres import Cluster
from tests.helpers.sqlite import connected
from tests.helpers.support import ServerProcess, explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, config, until

pytestmark = pytest.mark.integration

JOBS = 8
LEASE_S = 2


class SharedStore:
    """The store the service processes of a test share, and the test's own view of it.
    PostgreSQL: the first replica has the password from libpq's ``PGPASSWORD``, the others
    from ``service.store_password_file``; none has it in its configuration."""

    def __init__(self, location: str, cluster: Cluster | None = None) -> None:
        self.location = location
        self.cluster = cluster

    def replica(self, index: int) -> tuple[dict[str, Any], dict[str, str]]:
        """Settings of ``service`` and environment variables for the ``index``-th process."""
        if self.cluster is None:
            return {}, {}
        if index == 0:
            return {}, {"PGPASSWORD": self.cluster.password}
        return {"store_password_file": str(self.cluster.password_file)}, {}

    def attempts(self) -> dict[str, tuple[str, int]]:
        sql = "SELECT id, status, attempts FROM explanations"
        if self.cluster is None:
            with connected(self.location) as db:
                rows = db.execute(sql).fetchall()
        else:
            with psycopg.connect(self.location, password=self.cluster.password) as db:
                rows = db.execute(sql).fetchall()
        return {id: (status, n) for id, status, n in rows}

    @property
    def secret(self) -> str | None:
        return None if self.cluster is None else self.cluster.password


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedStore:
    if request.param == "sqlite":
        return SharedStore(str(tmp_path / "store.sqlite"))
    cluster: Cluster = request.getfixturevalue("postgres")
    return SharedStore(cluster.url(cluster.create_database()), cluster)


def durable_config(model: Model, store: Path | str) -> dict[str, Any]:
    settings = config(model.url, store)  # type: ignore[arg-type]
    settings["service"].update(lease_s=LEASE_S, max_queue=JOBS + 10)
    return settings


def start(
    model: Model,
    store: Path | SharedStore,
    directory: Path,
    log: Path,
    replica: int = 0,
    lease_s: float = LEASE_S,
) -> tuple[ServerProcess, str]:
    settings, env = ({}, {}) if isinstance(store, Path) else store.replica(replica)
    location = store if isinstance(store, Path) else store.location
    wanted = durable_config(model, location)
    wanted["service"].update(settings, lease_s=lease_s)
    process, base = explainer_service(wanted, directory, log, env=env, log_level="info")
    wait_until_ready(base, timeout=LIMIT_S)
    return process, base


def attempts(store: Path) -> dict[str, tuple[str, int]]:
    return SharedStore(str(store)).attempts()


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:4]
    except OSError:
        return "(Z)"


def kill(process: ServerProcess, base: str) -> None:
    """SIGKILL the service; returns once its worker processes are gone too (the kernel
    stops them with it, so none keeps calling the model)."""
    workers = [w["pid"] for w in HTTP.get(base + "/health/ready", timeout=30).json()["workers"]]
    process.process.send_signal(signal.SIGKILL)
    process.process.wait(LIMIT_S)
    process.stop()
    until(lambda: not any(alive(pid) for pid in workers), "the workers to die with it")


def never_logged(store: SharedStore, *logs: Path) -> None:
    """The store's password is in no log line (the processes log at info)."""
    if store.secret is not None:
        for log in logs:
            assert store.secret not in log.read_text(errors="replace"), log


def test_after_a_sigkill_every_accepted_job_finishes_exactly_once(
    gate: Model, shared: SharedStore, tmp_path: Path, output_dir: Path
) -> None:
    logs = [output_dir / f"service-sigkill-{shared.cluster and 'pg'}-{i}.log" for i in (1, 2)]
    first, base = start(gate, shared, tmp_path, logs[0])
    gate.hold("all")
    ids = []
    for seed in range(JOBS):
        answer = HTTP.post(
            f"{base}/explain?method=shap&mode=async&seed={seed}", json=APPLICANT, timeout=LIMIT_S
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    assert len(set(ids)) == JOBS
    until(lambda: len(set(gate.waiting())) == 2, "both workers at the gate")
    kill(first, base)
    before = shared.attempts()
    running = [id for id, (status, _) in before.items() if status == "running"]
    assert len(running) == 2 and all(before[id][0] in ("pending", "running") for id in ids)

    gate.hold([])
    second, base = start(gate, shared, tmp_path, logs[1], replica=1)
    try:

        def finished() -> bool:
            return all(status == "done" for status, _ in shared.attempts().values())

        until(finished, "every accepted job to finish after the restart")
        after = shared.attempts()
        assert set(after) == set(ids)
        for id in ids:  # those running at the kill ran twice, the others once
            assert after[id][1] == (2 if id in running else 1), (id, after[id])
        for id in ids:
            body = HTTP.get(f"{base}/explanations/{id}", timeout=30).json()
            assert body["id"] == id and body["method"] == "shap"
    finally:
        second.stop()
    never_logged(shared, *logs)


def test_two_processes_on_one_store_compute_each_request_once(
    gate: Model, shared: SharedStore, tmp_path: Path, output_dir: Path
) -> None:
    logs = [output_dir / f"service-shared-{shared.cluster and 'pg'}-{i}.log" for i in (1, 2)]
    one, base_one = start(gate, shared, tmp_path, logs[0])
    two, base_two = start(gate, shared, tmp_path, logs[1], replica=1)
    try:

        def explain(base: str, seed: int) -> httpx.Response:
            return HTTP.post(
                f"{base}/explain?method=shap&seed={seed}", json=APPLICANT, timeout=LIMIT_S
            )

        with ThreadPoolExecutor(8) as threads:
            pairs = [
                (threads.submit(explain, base_one, s), threads.submit(explain, base_two, s))
                for s in range(100, 106)
            ]
            answers = [(a.result(), b.result()) for a, b in pairs]
        for a, b in answers:
            assert a.status_code == b.status_code == 200, (a.text, b.text)
            assert a.json()["id"] == b.json()["id"]
            assert a.json()["result"] == b.json()["result"]
        counted = shared.attempts()
        assert len(counted) == 6
        assert all(n == 1 for _, n in counted.values()), counted
        listed = HTTP.get(f"{base_two}/explanations?limit=50", timeout=30).json()
        assert {e["id"] for e in listed} == set(counted)  # either replica lists them all
    finally:
        one.stop()
        two.stop()
    never_logged(shared, *logs)


def lookups(base: str, result: str) -> float:
    """``explainer_store_lookups_total{result=...}`` of one process."""
    for line in HTTP.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(f'explainer_store_lookups_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_job_of_a_replica_killed_mid_way_is_finished_by_the_other_after_its_lease(
    gate: Model, shared: SharedStore, tmp_path: Path, output_dir: Path
) -> None:
    logs = [output_dir / f"service-replica-{shared.cluster and 'pg'}-{i}.log" for i in (1, 2)]
    # a longer lease than the other tests: the live holder must renew it in time on a busy
    # machine, or the other replica would rightly take the job over while it still runs
    one, base_one = start(gate, shared, tmp_path, logs[0], lease_s=6)
    two, base_two = start(gate, shared, tmp_path, logs[1], replica=1, lease_s=6)
    try:
        gate.hold("all")
        url = "/explain?method=shap&mode=async&seed=7"
        answer = HTTP.post(base_one + url, json=APPLICANT, timeout=LIMIT_S)
        assert answer.status_code == 202, answer.text
        id = answer.json()["id"]
        until(gate.waiting, "the first replica's worker at the gate")
        assert len(gate.waiting()) == 1 and shared.attempts()[id] == ("running", 1)
        # the same request at the other replica joins the job: it holds no lease to take
        joined = lookups(base_two, "joined")
        again = HTTP.post(base_two + url, json=APPLICANT, timeout=LIMIT_S)
        assert again.status_code == 202 and again.json()["id"] == id
        assert lookups(base_two, "joined") == joined + 1
        assert shared.attempts()[id] == ("running", 1)

        kill(one, base_one)
        gate.hold([])
        until(lambda: shared.attempts()[id][0] == "done", "the other replica to finish it")
        assert shared.attempts()[id] == ("done", 2)  # started by each replica once
        body = HTTP.get(f"{base_two}/explanations/{id}", timeout=30).json()
        assert body["id"] == id and body["method"] == "shap"
        assert f"took over explanation {id}" in logs[1].read_text()
    finally:
        one.stop()
        two.stop()
    never_logged(shared, *logs)
