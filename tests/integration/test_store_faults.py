"""The store stops taking writes mid-run, with explanations accepted, running and queued:
a SQLite file that cannot grow (a file size limit set on the running service, as a full
disk: EFBIG), and a PostgreSQL server stopped. Every request is answered (a 503
``store_unavailable`` or an answer; a client timeout of a minute catches a hang),
readiness drops and recovers by itself, and every job accepted before the fault is done
exactly once once the store is back: computed before it came back, never again (the model
server's record of calls), none stored ``failed``. Real service processes against the gated
model server (tests/helpers/servers/gated_model.py)."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from explainer_service.service.readiness import STORE_DOWN, STORE_REPLACED
from tests.helpers.support import ServerProcess, explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_durability import SharedStore, durable_config, shared  # noqa: F401
from tests.integration.test_pool import APPLICANT, LIMIT_S, Model, until

pytestmark = pytest.mark.integration

JOBS = 4
#: a hang is a failure, not a long wait
CLIENT_TIMEOUT_S = 60.0


def start(
    model: Model, store: SharedStore, directory: Path, log: Path
) -> tuple[ServerProcess, str]:
    """A service on ``store`` that checks readiness every second, and lets an explanation
    wait at the gate for as long as the test needs."""
    settings, env = store.replica(0)
    wanted = durable_config(model, store.location)
    # a request that meets the database stopped waits 2 s for a connection, not 10
    wanted["service"].update(settings, lease_s=6, ready_recheck_s=1, store_timeout_s=2)
    wanted["service"]["budget"] = {"max_seconds": LIMIT_S}
    process, base = explainer_service(wanted, directory, log, env=env, log_level="info")
    wait_until_ready(base, timeout=LIMIT_S)
    return process, base


@contextmanager
def unwritable(store: SharedStore, service: ServerProcess) -> Iterator[None]:
    """The store takes no writes inside the block: the service may not write past the
    first byte of any file (SQLite; its log lines are lost meanwhile), or the PostgreSQL
    server is stopped."""
    if store.cluster is not None:
        store.cluster.pause()
        try:
            yield
        finally:
            store.cluster.resume()
        return
    pid = service.process.pid
    limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, limits[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


def readiness(base: str) -> httpx.Response:
    return HTTP.get(base + "/health/ready", timeout=CLIENT_TIMEOUT_S)


def unstored(base: str) -> float:
    for line in HTTP.get(base + "/metrics", timeout=CLIENT_TIMEOUT_S).text.splitlines():
        if line.startswith("explainer_explanations_unstored "):
            return float(line.split()[-1])
    raise AssertionError("no explainer_explanations_unstored gauge")


def explain(base: str, seed: int, mode: str = "sync") -> httpx.Response:
    return HTTP.post(
        f"{base}/explain?method=shap&mode={mode}&seed={seed}",
        json=APPLICANT,
        timeout=CLIENT_TIMEOUT_S,
    )


def calls_by_request(model: Model) -> dict[str, int]:
    """The workers' calls to the model (not readiness's), by the request that asked."""
    counted: dict[str, int] = {}
    for call in model.calls():
        if call["worker"]:
            counted[call["request_id"]] = counted.get(call["request_id"], 0) + 1
    return counted


def test_a_store_that_stops_writing_is_503_and_loses_no_accepted_job(
    gate: Model,
    shared: SharedStore,  # noqa: F811
    tmp_path: Path,
    output_dir: Path,
) -> None:
    log = output_dir / f"service-store-fault-{shared.cluster and 'pg'}.log"
    service, base = start(gate, shared, tmp_path, log)
    try:
        gate.hold([0, 1])
        accepted = {}  # job id -> the request id its model calls carry
        for seed in range(JOBS):
            answer = explain(base, 300 + seed, "async")
            assert answer.status_code == 202, answer.text
            accepted[answer.json()["id"]] = answer.headers["x-request-id"]
        until(lambda: len(set(gate.waiting())) == 2, "both workers at the gate")

        with unwritable(shared, service):
            refused = until(
                lambda: (r := readiness(base)).status_code == 503 and r, "readiness to drop"
            )
            assert refused.json()["reason"] == STORE_DOWN, refused.text
            for mode in ("sync", "async"):  # a claim is a write: refused at once
                answer = explain(base, 400, mode)
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "store_unavailable"
            looked = HTTP.get(f"{base}/explanations/{next(iter(accepted))}", timeout=60)
            assert looked.status_code in (200, 503), looked.text  # a read: answered
            gate.hold([])  # the accepted jobs are computed; the store takes none of them
            until(lambda: unstored(base) == JOBS, "every answer kept in memory")
            computed = calls_by_request(gate)
            assert set(computed) >= set(accepted.values())
            assert readiness(base).status_code == 503

        until(lambda: readiness(base).status_code == 200, "readiness to recover by itself")

        def stored() -> bool:
            rows = shared.attempts()
            return all(rows[id][0] == "done" for id in accepted)

        until(stored, "every accepted job stored done")
        assert unstored(base) == 0
        for id in accepted:
            body = HTTP.get(f"{base}/explanations/{id}", timeout=CLIENT_TIMEOUT_S).json()
            assert body["id"] == id and body["method"] == "shap" and body["result"]
        again = explain(base, 400)  # refused during the fault: computed now
        assert again.status_code == 200, again.text
        after = calls_by_request(gate)
        for request in accepted.values():  # done once: no call for them since the fault
            assert after[request] == computed[request], (request, after, computed)
        assert all(status != "failed" for status, _ in shared.attempts().values())
    finally:
        service.stop()


def test_a_sqlite_file_deleted_under_the_service_is_not_ready_and_refused(
    gate: Model, tmp_path: Path, output_dir: Path
) -> None:
    """Rather than writing on to the unlinked file, lost at the next start."""
    store = SharedStore(str(tmp_path / "store.sqlite"))
    service, base = start(gate, store, tmp_path, output_dir / "service-store-deleted.log")
    try:
        assert explain(base, 500).status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(store.location + suffix).unlink(missing_ok=True)
        refused = until(
            lambda: (r := readiness(base)).status_code == 503 and r, "readiness to drop"
        )
        assert refused.json()["reason"] == STORE_REPLACED, refused.text
        answer = explain(base, 501)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "store_unavailable"
    finally:
        service.stop()
    assert "was deleted while in use" in (output_dir / "service-store-deleted.log").read_text()
