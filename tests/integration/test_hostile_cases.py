"""Hostile cases that once gave 500s or crash reports, against real processes on 127.0.0.1:
the service (its log in JSON, at info level), the example model server, a model server that
misbehaves (``tests/helpers/servers/fault_server.py``) and ``explainer-service serve`` on
broken SQLite files.

Each gets the status of the error table, a valid JSON body, and no record at error level:
only a fault of the service's own is logged as one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from explainer_service.store import SqliteStore
from tests.helpers.sqlite import connected
from tests.helpers.support import (
    explainer_service,
    free_port,
    until,
    wait_until_fitted,
    wait_until_ready,
)
from tests.helpers.web import HTTP
from tests.integration.test_hostile_inputs import APPLICANT
from tests.integration.test_service import config

pytestmark = pytest.mark.integration

TIMEOUT_S = 120.0  # generous: the machine may be loaded
LIMIT_S = 300.0
JSON_LOGS = {"EXPLAINER_LOG_FORMAT": "json"}


@dataclass
class Running:
    """A service process and its log (one JSON object per line)."""

    base: str
    log: Path

    def mark(self) -> int:
        return self.log.stat().st_size

    def records(self, since: int = 0) -> list[dict]:
        with self.log.open("rb") as file:
            file.seek(since)
            lines = file.read().decode("utf-8", "replace").splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:  # not a record of ours: kept whole, so a traceback shows
                parsed.append({"level": "RAW", "message": line})
        return parsed

    def errors(self, since: int = 0) -> list[dict]:
        """Records at error level, with a traceback, or printed outside the log format
        with one."""
        return [
            r
            for r in self.records(since)
            if r.get("level") in ("ERROR", "CRITICAL")
            or "exception" in r
            or "Traceback" in r.get("message", "")
        ]


@pytest.fixture(scope="module")
def service(
    income_server: str, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("hostile-cases")
    log = output_dir / "service-hostile-cases.log"
    settings = config(income_server + "/v2/models/income/infer", directory / "store.sqlite")
    process, base = explainer_service(settings, directory, log, env=JSON_LOGS, log_level="info")
    try:
        wait_until_ready(base)
        yield Running(base, log)
    finally:
        process.stop()


# --- a lone UTF-16 surrogate, sent as the JSON escape "\ud800" --------------------------

LONE = "\\ud800"  # the six characters of the JSON escape, as a client sends them


def with_lone_surrogate(**extra: object) -> str:
    """The applicant's records, its workclass a lone surrogate (and ``extra`` features)."""
    records = {"instances": [{**APPLICANT, "workclass": "?", **extra}]}
    return json.dumps(records).replace('"?"', f'"{LONE}"')


def with_unknown_key() -> str:
    return json.dumps({"instances": [{**APPLICANT, "?": 1}]}).replace('"?"', f'"{LONE}"')


SURROGATES = [
    ("POST", "/explain?method=shap", with_lone_surrogate(), "unknown_category"),
    ("POST", "/explain?method=shap&dry_run=true", with_lone_surrogate(), "unknown_category"),
    ("POST", "/v1/models/income:explain?method=shap", with_lone_surrogate(), "unknown_category"),
    (
        "GET",
        "/explain?method=shap&format=json&payload=" + quote(with_lone_surrogate()),
        None,
        "unknown_category",
    ),
    ("GET", "/links?payload=" + quote(with_lone_surrogate()), None, "unknown_category"),
    ("POST", "/explain?method=shap", with_unknown_key(), "invalid_payload"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    SURROGATES,
    ids=["POST", "dry run", "KServe", "GET drill-down", "links", "unknown key"],
)
def test_a_lone_surrogate_gets_its_422_as_valid_json(
    service: Running, method: str, path: str, body: str | None, code: str
) -> None:
    mark = service.mark()
    response = HTTP.request(
        method,
        service.base + path,
        content=body,
        headers={"content-type": "application/json", "accept": "application/json"},
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 422, response.text
    error = json.loads(response.content.decode("utf-8"))["error"]  # strict UTF-8 JSON
    assert error["code"] == code
    assert LONE in error["message"] + json.dumps(error["detail"], ensure_ascii=False)
    assert service.errors(mark) == []


# --- an explanation over its budget ----------------------------------------------------

OVER_BUDGET = "method=anchors&max_samples=20000&beam_size=20"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/explain?{OVER_BUDGET}"),
        ("GET", f"/explain?{OVER_BUDGET}&format=json&payload="),
        ("POST", f"/v1/models/income:explain?{OVER_BUDGET}"),
    ],
    ids=["POST", "GET", "KServe"],
)
def test_an_explanation_over_budget_gets_422_and_no_error_in_the_log(
    service: Running, method: str, path: str
) -> None:
    records = json.dumps({"instances": [APPLICANT]})
    mark = service.mark()
    if method == "GET":
        response = HTTP.get(service.base + path + quote(records), timeout=TIMEOUT_S)
    else:
        response = HTTP.post(
            service.base + path,
            content=records,
            headers={"content-type": "application/json"},
            timeout=TIMEOUT_S,
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert service.errors(mark) == []


# --- clients that go away in the middle of their body ----------------------------------


def http_requests(base: str, status: str) -> float:
    text = HTTP.get(base + "/metrics", timeout=TIMEOUT_S).text
    name = f'explainer_http_requests_total{{status="{status}"}} '
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    return values[0] if values else 0.0


def disconnect_mid_body(base: str) -> None:
    """Headers declaring 100000 bytes, then 10 of them, then the connection is closed."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock:
        sock.sendall(
            b"POST /explain?method=shap HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n"
            b'{"instanc'
            b"e"
        )


def test_clients_gone_mid_body_are_no_errors_and_no_5xx(service: Running) -> None:
    mark = service.mark()
    before = {status: http_requests(service.base, status) for status in ("4xx", "5xx")}
    for _ in range(20):
        disconnect_mid_body(service.base)
    until(lambda: http_requests(service.base, "4xx") - before["4xx"] >= 20, "20 counted", LIMIT_S)
    assert http_requests(service.base, "4xx") - before["4xx"] == 20
    assert http_requests(service.base, "5xx") - before["5xx"] == 0  # readiness's 503s before
    gone = [r for r in service.records(mark) if r.get("event") == "request"]
    assert [r["status"] for r in gone if r["path"] == "/explain"] == [499] * 20
    assert service.errors(mark) == []
    # the service still answers
    assert HTTP.get(service.base + "/health/live", timeout=TIMEOUT_S).status_code == 200
    answer = HTTP.post(
        service.base + "/explain?method=shap&dry_run=true",
        json={"instances": [APPLICANT]},
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 200, answer.text


# --- a model that answers what HTTP cannot read, or resets the connection ----------------


@pytest.fixture
def against(faults: str, tmp_path: Path, output_dir: Path) -> Iterator[Callable[[str], Running]]:
    """Starts the service against one path of the fault server (KServe v1)."""
    started = []

    def start(path: str) -> Running:
        settings = config(faults + path, tmp_path / "store.sqlite", "kserve-v1")
        settings["service"]["ready_recheck_s"] = 1
        log = output_dir / f"service-hostile-{path.strip('/')}.log"
        process, base = explainer_service(settings, tmp_path, log, env=JSON_LOGS)
        started.append(process)
        wait_until_fitted(base, timeout=LIMIT_S)
        return Running(base, log)

    yield start
    for process in started:
        process.stop()


def explain(base: str) -> httpx.Response:
    return HTTP.post(
        base + "/explain?method=shap", json={"instances": [APPLICANT]}, timeout=TIMEOUT_S
    )


def test_an_answer_its_content_encoding_does_not_decode_is_a_502_and_readiness_says_so(
    against: Callable[[str], Running],
) -> None:
    service = against("/bad-gzip")
    answer = explain(service.base)
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "model_error"
    assert "cannot be decoded" in answer.json()["error"]["message"]
    ready = HTTP.get(service.base + "/health/ready", timeout=TIMEOUT_S)
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert "internal error" not in reason and "cannot be decoded" in reason
    assert service.errors() == []


def test_a_model_that_resets_the_connection_mid_request_is_a_503(
    against: Callable[[str], Running],
) -> None:
    service = against("/reset")
    answer = explain(service.base)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "model_unavailable"
    ready = HTTP.get(service.base + "/health/ready", timeout=TIMEOUT_S).json()
    assert "internal error" not in ready["reason"] and "unreachable" in ready["reason"]
    assert service.errors() == []


def done_rows(store: Path) -> int:
    with connected(store) as db:
        sql = "SELECT COUNT(*) FROM explanations WHERE status = 'done'"
        return int(db.execute(sql).fetchone()[0])


def test_answers_that_are_not_probabilities_are_502_stored_never_and_the_fixed_model_explained(
    against: Callable[[str], Running], faults: str, tmp_path: Path
) -> None:
    service = against("/switch")
    store = tmp_path / "store.sqlite"
    for mode, status, code, says in [
        ("sum", 502, "model_output", "do not sum to 1"),
        ("range", 502, "model_output", "outside [0, 1]"),
        ("huge", 502, "model_output", "outside [0, 1]"),
        ("redirect", 503, "model_unavailable", "a redirect"),
    ]:
        assert HTTP.put(f"{faults}/switch/{mode}", timeout=TIMEOUT_S).status_code == 200
        before = HTTP.get(faults + "/requests", timeout=TIMEOUT_S).json().get("/switch", 0)
        answer = explain(service.base)
        assert answer.status_code == status, (mode, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code and says in error["message"], (mode, error)
        assert "login.internal.example" not in answer.text
        assert HTTP.get(faults + "/requests", timeout=TIMEOUT_S).json()["/switch"] > before
        assert done_rows(store) == 0, mode  # nothing the model said was kept
    assert HTTP.put(f"{faults}/switch/ok", timeout=TIMEOUT_S).status_code == 200
    fixed = explain(service.base)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["prediction"]["probabilities"] == {"<=50K": 0.25, ">50K": 0.75}
    assert done_rows(store) == 1
    assert service.errors() == []


# --- explainer-service serve on a SQLite file it cannot use -------------------------------


def garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 64)
    return path


def truncated(path: Path) -> Path:
    store = SqliteStore(path)
    for n in range(300):
        store.claim(f"k{n}", "shap", {"row": ["x" * 2000]}, "a", 30)
    store.close()
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    return path


def under_a_file(path: Path) -> Path:
    """A path whose folder cannot be made: a file stands where it would be."""
    path.write_text("a file, not a folder")
    return path / "store.sqlite"


def a_folder(path: Path) -> Path:
    """A path SQLite cannot open as a file (what an unreadable file is to root, who runs the
    tests: root reads files whatever their permissions)."""
    path.mkdir()
    return path


@pytest.mark.parametrize("broken", [garbage, truncated, under_a_file, a_folder])
def test_serve_on_a_broken_sqlite_file_stops_with_status_2_and_a_store_error(
    income_server: str, tmp_path: Path, broken: Callable[[Path], Path]
) -> None:
    store = broken(tmp_path / "store.sqlite")
    path = tmp_path / "explainer.yaml"
    path.write_text(yaml.safe_dump(config(income_server + "/v2/models/income/infer", store)))
    script = Path(sys.executable).parent / "explainer-service"
    done = subprocess.run(
        [str(script), "serve", "--config", str(path), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
    )
    assert done.returncode == 2, done.stderr
    assert f"store error: cannot open the store {store}" in done.stderr
    assert "Traceback" not in done.stderr
