"""Hostile inputs against a real service process (and the real example model server): each
gets its 4xx as a JSON error, and ``/health/live`` answers 200 throughout.

While each request is sent, another thread polls ``/health/live``; both latencies are
written to ``test-output/hostile-inputs.md``. They are recorded, not asserted: the suite
runs on machines whose cores are busy with other work.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP
from tests.integration.test_service import config

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0  # generous: the machine may be loaded
APPLICANT = {
    "age": 39, "workclass": "Private", "education": "HS-grad", "education-num": 9,
    "marital-status": "Divorced", "occupation": "Sales", "relationship": "Not-in-family",
    "ethnicity": "White", "gender": "Male", "capital-gain": 0, "capital-loss": 0,
    "hours-per-week": 40,
}  # fmt: skip


def records(**values: object) -> bytes:
    return json.dumps({"instances": [{**APPLICANT, **values}]}).encode()


def envelope(instance: object) -> bytes:
    return json.dumps({"payload": {"instances": [APPLICANT]}, "instance": instance}).encode()


def chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """``total`` bytes of a JSON array, sent without a Content-Length."""
    yield b"["
    for _ in range(total // size):
        yield b"1," * (size // 2)
    yield b"1]"


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    body: bytes | None = None
    status: int = 422
    message: str = ""
    streamed: int = 0  # bytes sent chunked instead of ``body``


FIFTY_MB = 50 * 1024 * 1024
HOSTILE = [
    Hostile("Seldon tensor shape [2**62, 4]", "POST", "/api/v1.0/explain",
            b'{"data":{"tensor":{"shape":[4611686018427387904,4],"values":[]}}}',
            message="does not fit 0 values"),
    Hostile("Seldon tensor shape [10**7, 0]", "POST", "/api/v1.0/explain",
            b'{"data":{"tensor":{"shape":[10000000,0],"values":[]}}}',
            message="does not fit 0 values"),
    Hostile("50 MB body (Content-Length)", "POST", "/explain?method=shap",
            b"[" + b"1," * (FIFTY_MB // 2) + b"1]", status=413, message="larger than"),
    Hostile("50 MB body (chunked)", "POST", "/explain?method=shap", streamed=FIFTY_MB,
            status=413, message="larger than"),
    Hostile("JSON nested 10^4 deep", "POST", "/explain?method=shap",
            b"[" * 10_000 + b"]" * 10_000, message="nests deeper"),
    Hostile("drill-down payload nested 2000 deep", "GET",
            "/explain?method=shap&format=json&payload=" + "%5B" * 2000 + "%5D" * 2000,
            message="nests deeper"),
    Hostile('envelope instance "abc"', "POST", "/explain?method=shap", envelope("abc"),
            message="'instance' must be"),
    Hostile("envelope instance 1.5", "POST", "/explain?method=shap", envelope(1.5),
            message="'instance' must be"),
    Hostile("envelope instance [1]", "POST", "/explain?method=shap", envelope([1]),
            message="'instance' must be"),
    Hostile("envelope instance true", "POST", "/explain?method=shap", envelope(True),
            message="'instance' must be"),
    Hostile("age 1e400", "POST", "/explain?method=shap",
            records(age=1).replace(b'"age": 1', b'"age": 1e400'), message="'age'"),
    Hostile("age 10**400", "POST", "/explain?method=shap", records(age=10**400),
            message="'age'"),
    Hostile("NaN as a category", "POST", "/explain?method=shap",
            records(workclass=float("nan")), message="'workclass'"),
    Hostile("Infinity as a category (KServe route)", "POST",
            "/v1/models/income:explain?method=shap",
            json.dumps({"instances": [{**APPLICANT, "workclass": float("inf")}]}).encode(),
            message="'workclass'"),
    Hostile("an integer of 5000 digits", "POST", "/explain?method=shap",
            b'{"instances": [{"age": ' + b"9" * 5000 + b"}]}", message="cannot be read"),
    Hostile("a 7 MB category", "POST", "/explain?method=shap",
            records(workclass="x" * 7_000_000), message="'workclass'"),
    Hostile("v2 tensor shape [10**9, 12] with one row", "POST", "/explain?method=shap",
            json.dumps({"inputs": [{"name": "input-0", "shape": [10**9, 12], "datatype": "BYTES",
                                    "data": list(APPLICANT.values())}]}).encode(),
            message="needs"),
    Hostile("Seldon names that are no list", "POST", "/api/v1.0/explain",
            b'{"data":{"names":true,"ndarray":[[1]]}}', message="data.names"),
    Hostile("instance=all beyond max_instances", "POST", "/explain?method=shap&instance=all",
            json.dumps({"instances": [APPLICANT] * 1000}).encode(), message="at most"),
]  # fmt: skip


@dataclass
class Measured:
    hostile: Hostile
    status: int
    seconds: float
    live: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def service(
    income_server: str, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("hostile")
    process, base = explainer_service(
        config(income_server + "/v2/models/income/infer", directory / "store.sqlite"),
        directory,
        output_dir / "service-hostile.log",
    )
    try:
        wait_until_ready(base)
        yield base
    finally:
        process.stop()


@pytest.fixture(scope="module")
def report(output_dir: Path) -> Iterator[list[Measured]]:
    measured: list[Measured] = []
    yield measured
    rows = [
        "| input | status | its latency (ms) | /health/live checks | live median (ms) "
        "| live slowest (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        rows.append(
            f"| {m.hostile.name} | {m.status} | {m.seconds * 1000:.0f} | {len(m.live)} "
            f"| {statistics.median(m.live) * 1000:.1f} | {max(m.live) * 1000:.1f} |"
        )
    (output_dir / "hostile-inputs.md").write_text(
        "# Hostile inputs against a real service process\n\n"
        "Each request was sent while another thread polled `/health/live` (one kept-alive "
        "connection, every 20 ms). Timings are as noisy as the machine; they are recorded, "
        "not asserted.\n\n" + "\n".join(rows) + "\n"
    )


def send(base: str, hostile: Hostile) -> httpx.Response:
    content = chunks(hostile.streamed) if hostile.streamed else hostile.body
    headers = {"content-type": "application/json", "accept": "application/json"}
    try:
        return HTTP.request(
            hostile.method, base + hostile.path, content=content, headers=headers,
            timeout=TIMEOUT_S,
        )  # fmt: skip
    except httpx.WriteError as exc:  # refused mid-body: the answer may still be readable
        raise AssertionError(f"{hostile.name}: the service closed before answering") from exc


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_each_hostile_input_gets_its_4xx_while_liveness_answers(
    service: str, hostile: Hostile, report: list[Measured]
) -> None:
    answer: dict[str, httpx.Response | BaseException] = {}
    took: list[float] = []

    def hostile_request() -> None:
        began = time.perf_counter()
        try:
            answer["response"] = send(service, hostile)
        except BaseException as exc:
            answer["error"] = exc
        took.append(time.perf_counter() - began)

    live: list[float] = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        client.get(service + "/health/live")  # the connection is open before the clock runs
        sender = threading.Thread(target=hostile_request)
        sender.start()
        while sender.is_alive() or not live:
            began = time.perf_counter()
            assert client.get(service + "/health/live").status_code == 200
            live.append(time.perf_counter() - began)
            time.sleep(0.02)
        sender.join()
    if "error" in answer:
        raise answer["error"]
    response = answer["response"]
    assert isinstance(response, httpx.Response)
    report.append(Measured(hostile, response.status_code, took[0], live))
    assert response.status_code == hostile.status, response.text[:500]
    error = response.json()["error"]
    assert hostile.message in error["message"], error
    assert error["request_id"] == response.headers["x-request-id"]
    assert len(response.content) < 10_000  # what was sent is not echoed back in full
