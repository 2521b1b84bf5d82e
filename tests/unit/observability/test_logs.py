"""Log records: one per request and one per explanation, with their fields; handled errors
without tracebacks; no payload values. The application is the real one in this process,
with a stand-in worker (no model is called)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from explainer_service.observability import logs
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP
from tests.unit.api.test_hostile_requests import APPLICANT, records

# values no log line may hold: they are an applicant's data
SECRET_GAIN = 31337
SECRET_CATEGORY = "Zebra-Keeper-4711"


@pytest.fixture(scope="module")
def base(income_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = fake_app(tmp_path_factory.mktemp("logs"))
    with served(app) as url:
        wait_for_worker(app)
        yield url


def service_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("explainer_service")]


def fields(record: logging.LogRecord) -> dict:
    return dict(getattr(record, "fields", {}))


def of_request(records: list[logging.LogRecord], request_id: str) -> list[logging.LogRecord]:
    """The request's records: those with fields name it (the others have no id on them
    until a handler's filter adds it)."""
    return [r for r in records if fields(r).get("request_id") == request_id]


def test_the_json_format_is_one_object_per_record_with_fields_and_traceback() -> None:
    formatter = logs.JsonFormatter({"worker": 1})
    record = logging.LogRecord("explainer_service.x", logging.INFO, "f", 1, "a %s", ("b",), None)
    record.request_id = "-"
    record.fields = {"event": "request", "status": 422}
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "a b" and entry["level"] == "INFO"
    assert entry["request_id"] is None and entry["worker"] == 1
    assert entry["event"] == "request" and entry["status"] == 422
    assert "exception" not in entry
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failing = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    text = formatter.format(failing)
    assert "\n" not in text  # one line, whatever the traceback
    assert "RuntimeError: boom" in json.loads(text)["exception"]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format 'xml'"):
        logs.chosen_format("xml")


def test_a_422_is_one_request_record_without_a_traceback(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="explainer_service")
    response = HTTP.post(
        base + "/explain?method=anchors",
        content=records(age=29.4),
        headers={"content-type": "application/json", "X-Request-ID": "bad-age-1"},
        timeout=60,
    )
    assert response.status_code == 422, response.text
    mine = of_request(service_records(caplog), "bad-age-1")
    requests = [r for r in mine if fields(r).get("event") == "request"]
    assert len(requests) == 1, [r.getMessage() for r in mine]
    assert fields(requests[0]) | {"seconds": 0} == {
        "event": "request",
        "request_id": "bad-age-1",
        "method": "POST",
        "path": "/explain",
        "status": 422,
        "seconds": 0,
    }
    assert requests[0].levelno == logging.INFO
    everything = service_records(caplog)
    assert all(r.exc_info is None for r in everything)
    assert [r for r in everything if r.levelno >= logging.WARNING] == []


def test_a_computed_explanation_is_one_record_under_the_callers_request_id(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="explainer_service")
    response = HTTP.post(
        base + "/explain?method=shap&seed=5",
        json={"instances": [APPLICANT]},
        headers={"X-Request-ID": "explained-1"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    explanation = response.json()
    done = [
        fields(r)
        for r in of_request(service_records(caplog), "explained-1")
        if fields(r).get("event") == "explanation"
    ]
    assert len(done) == 1
    assert done[0]["id"] == explanation["id"] and done[0]["method"] == "shap"
    assert done[0]["model"] == "income" and done[0]["status"] == "done"
    assert done[0]["model_calls"] == explanation["cost"]["model_calls"]
    assert done[0]["url"] == f"/explanations/{explanation['id']}"


def test_payload_values_are_absent_from_every_record_at_info(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="explainer_service")
    good = json.dumps({"instances": [{**APPLICANT, "capital-gain": SECRET_GAIN}]})
    bad = json.dumps({"instances": [{**APPLICANT, "workclass": SECRET_CATEGORY}]})
    for payload, status in ((good, 200), (bad, 422)):
        response = HTTP.get(
            f"{base}/explain?method=shap&format=json&payload={quote(payload)}",
            timeout=60,
        )
        assert response.status_code == status, response.text
    mine = [r for r in service_records(caplog) if r.levelno >= logging.INFO]
    assert any(fields(r).get("path") == "/explain" for r in mine)
    text = logging.Formatter(logs.TEXT)
    for record in mine:
        record.request_id = getattr(record, "request_id", "-")
        for formatter in (text, logs.JsonFormatter()):
            line = formatter.format(record)
            assert str(SECRET_GAIN) not in line and SECRET_CATEGORY not in line, line
