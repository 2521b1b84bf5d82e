"""The inference routes in this process (a stand-in worker held busy, the model down): what
they answer before any explanation is done, and when the model cannot be asked again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.api.deps import get_settings
from explainer_service.store.inferences import LoggedSide
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP

RECORD = json.loads((paths.PAYLOADS / "records.json").read_text())[0]


def sides(id: str, answered: bool) -> list[LoggedSide]:
    common = {"id": id, "event_id": id.split("/")[0], "row_index": 0, "row_count": 2,
              "source": "seldon", "model": "income"}  # fmt: skip
    logged = [LoggedSide(**common, side="request", instance=list(RECORD.values()))]
    if answered:
        logged.append(LoggedSide(**common, side="response", answer={"scores": [0.9, 0.1]}))
    return logged


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("inference-routes")
    app = fake_app(directory)  # the model is down: readiness says so, the worker runs
    settings = app.state.settings
    quick = settings.service.model_copy(update={"drilldown_wait_s": 0.0})
    app.dependency_overrides[get_settings] = lambda: settings.model_copy(update={"service": quick})
    app.state.store.log_inferences(sides("request-only/0", answered=False))
    app.state.store.log_inferences(sides("both/0", answered=True))
    with served(app) as url:
        wait_for_worker(app)
        (directory / "open").unlink()  # the stand-in worker holds every task from now on
        try:
            yield url
        finally:
            (directory / "open").touch()


def test_the_waiting_page_comes_back_to_the_same_link(base: str) -> None:
    response = HTTP.get(
        f"{base}/inferences/request-only%2F0/explain",
        params={"method": "shap", "seed": "3"},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location.startswith("/inferences/request-only%2F0/explain?")
    assert "method=shap" in location and "seed=3" in location
    refresh = re.search(r'http-equiv="refresh" content="\d+; url=([^"]+)"', response.text)
    assert refresh is not None and refresh.group(1).replace("&amp;", "&") == location


def test_the_record_lists_an_explanation_not_done_yet(base: str) -> None:
    started = HTTP.post(f"{base}/inferences/request-only/0/explain?method=anchors&mode=async")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["inference_id"] == "request-only/0"
    assert body["agreement"]["outcome"] == "not_checked"  # no answer was logged: no model call
    assert "not logged" in body["agreement"]["message"]
    record = HTTP.get(f"{base}/inferences/request-only%2F0").json()
    listed = {e["id"]: e for e in record["explanations"]}
    assert listed[body["id"]]["status"] in ("pending", "running")
    assert listed[body["id"]]["agrees"] is None


def test_a_model_that_cannot_be_asked_again_is_a_clear_error(base: str) -> None:
    response = HTTP.post(f"{base}/inferences/both%2F0/explain?method=anchors", timeout=60)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "model_unavailable"
    assert HTTP.get(f"{base}/inferences/both%2F0").json()["explanations"] == []


def test_a_method_of_the_whole_model_is_refused(base: str) -> None:
    response = HTTP.post(f"{base}/inferences/both%2F0/explain?method=importance")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["detail"]["field"] == "method" and "GET /explain" in error["message"]


def test_bad_requests_name_their_field(base: str) -> None:
    listed = HTTP.get(f"{base}/inferences", params={"limit": 0})
    assert listed.status_code == 422 and "limit" in listed.text
    body = HTTP.post(f"{base}/inferences/both%2F0/explain", json={"parameters": 3})
    assert body.status_code == 422 and "parameters" in body.text
