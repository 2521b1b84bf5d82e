"""``dry_run=true``: a request validated as for an explanation and answered with its estimated
cost, with no call to the model (a real model server counts its requests), nothing queued and
nothing stored; and a request over the budget refused before it is queued.

The app runs in process with a stand-in worker pool that never answers (its gate stays shut),
so whatever reaches the pool stays visible."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.service import Service
from explainer_service.settings import CandidateSettings, load_settings
from explainer_service.workers import Pool, Task
from tests.helpers import fake_workers
from tests.helpers.web import HTTP

LIMIT_S = 60.0


class Setup:
    def __init__(self, app: Any, service: Service, model: str) -> None:
        self.app, self.service, self.model = app, service, model
        self.submitted: list[Task] = []

    def request(self, verb: str, route: str, **kwargs: Any) -> httpx.Response:
        """In process; a request that reached the pool would wait for ever: it fails."""

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as c:
                return await asyncio.wait_for(c.request(verb, route, **kwargs), LIMIT_S)

        return asyncio.run(call())

    def model_requests(self) -> int:
        return int(HTTP.get(self.model + "/stats", timeout=30).json()["requests"])

    def stored(self) -> int:
        return len(self.service.store.recent(100))


@pytest.fixture
def setup(income_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    yield from make_setup(income_server, tmp_path, monkeypatch)


@pytest.fixture
def compared(
    income_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Setup]:
    """With models.candidate: the same model server under another version."""
    yield from make_setup(income_server, tmp_path, monkeypatch, candidate=True)


def make_setup(
    income_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, candidate: bool = False
) -> Iterator[Setup]:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"{income_server}/v2/models/income/infer"  # type: ignore[assignment]
    if candidate:
        url = f"{income_server}/v2/models/income/infer"
        settings.models.candidate = CandidateSettings(url=url, version="next")  # type: ignore[arg-type]
    settings.service.store = ":memory:"
    settings.explainers["constant"] = {}  # the test plugin: no estimate
    gate = tmp_path / "open"
    pool = Pool(str(gate), 1, target=fake_workers.explaining)  # stand-in workers
    app = create_app(settings, pool=pool)
    service = app.state.service
    setup = Setup(app, service, income_server)
    submit = pool.submit
    monkeypatch.setattr(pool, "submit", lambda task: setup.submitted.append(task) or submit(task))
    pool.start()
    deadline = time.monotonic() + 60
    while not pool.ready:
        assert time.monotonic() < deadline, "the stand-in worker did not start"
        time.sleep(0.02)
    yield setup
    gate.touch()
    service.close()


def payload() -> dict:
    return json.loads((paths.PAYLOADS / "v2.json").read_text())


def test_a_dry_run_answers_the_estimate_and_calls_nothing(setup: Setup) -> None:
    before = setup.model_requests()
    answers = [
        setup.request("POST", "/explain?method=shap&dry_run=true&nsamples=300", json=payload()),
        setup.request(
            "POST",
            "/explain?method=shap",
            json={"payload": payload(), "parameters": {"nsamples": 300}, "dry_run": True},
        ),
        setup.request(
            "GET",
            "/explain",
            params={
                "method": "shap",
                "payload": json.dumps(payload()),
                "nsamples": 300,
                "dry_run": "true",
            },
        ),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        answer = response.json()
        assert answer["method"] == "shap" and answer["instances"] == 1
        assert answer["parameters"]["nsamples"] == 300  # the override
        assert answer["parameters"]["background_size"] == 100  # from the configuration
        # the instance with the 100 background rows in one call, 4 replicates of 75
        # coalitions x 100 rows, each in chunks of 2000; the flip test of gender and
        # ethnicity (1 + 4 other values) in one call
        estimate = answer["estimate"]
        assert estimate["rows"] == 1 + 100 + 4 * 75 * 100 + 5
        assert estimate["model_calls"] == 1 + 4 * math.ceil(7500 / 2000) + 1
        assert estimate["max_seconds"] == answer["budget"]["max_seconds"] == 120
        assert estimate["upper_bound"] is True
        assert estimate["parameters"] == ["nsamples", "background_size"]
        assert answer["budget"] == {
            "max_model_calls": 5000,
            "max_rows": 1_000_000,
            "max_seconds": 120,
        }
        assert answer["within_budget"] is True
    assert setup.model_requests() == before
    assert setup.submitted == [] and setup.stored() == 0
    # the same request without dry_run is queued and stored: the checks above would see it
    queued = setup.request("POST", "/explain?method=shap&mode=async&nsamples=300", json=payload())
    assert queued.status_code == 202
    assert [task.method for task in setup.submitted] == ["shap"] and setup.stored() == 1


def test_a_dry_run_validates_the_request_as_an_explanation_would(setup: Setup) -> None:
    before = setup.model_requests()
    category = payload()
    category["inputs"][0]["data"][1] = "Astronaut"  # workclass of the first row
    cases = [
        ({"method": "shap"}, {"inputs": []}, "invalid_payload"),
        ({"method": "shap", "nsamples": 5}, payload(), "invalid_parameter"),
        ({"method": "lime"}, payload(), "unknown_method"),
        ({"method": "shap", "instance": 7}, payload(), "invalid_payload"),
        ({"method": "shap"}, category, "unknown_category"),
        ({"method": "shap"}, {"payload": payload(), "dry_run": "yes"}, "invalid_payload"),
    ]
    for params, body, code in cases:
        params = {"dry_run": "true", **params} if "dry_run" not in body else params
        response = setup.request("POST", "/explain", params=params, json=body)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == code
    assert setup.model_requests() == before
    assert setup.submitted == [] and setup.stored() == 0


def test_over_the_budget_a_dry_run_says_so_and_a_request_is_refused(setup: Setup) -> None:
    largest = "method=anchors&max_samples=20000&beam_size=20"
    dry = setup.request("POST", f"/explain?{largest}&dry_run=true", json=payload())
    assert dry.status_code == 200
    assert dry.json()["within_budget"] is False
    assert dry.json()["estimate"]["rows"] > dry.json()["budget"]["max_rows"]
    before = setup.model_requests()
    for mode in ("async", "sync"):
        refused = setup.request("POST", f"/explain?{largest}&mode={mode}", json=payload())
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert error["detail"]["budget"] == "max_rows"
        assert error["detail"]["limit"] == 1_000_000
        assert error["detail"]["estimate"] == dry.json()["estimate"]["rows"]
        assert {"max_samples", "beam_size"} <= set(error["detail"]["parameters"])
        assert "max_rows" in error["message"] and "lower max_samples" in error["message"]
    assert setup.model_requests() == before
    assert setup.submitted == [] and setup.stored() == 0


def test_a_dry_run_of_several_rows_and_of_a_method_without_an_estimate(setup: Setup) -> None:
    every = setup.request(
        "POST", "/explain?method=anchors&instance=all&dry_run=true", json=payload()
    )
    assert every.status_code == 200 and every.json()["instances"] == 2
    assert every.json()["within_budget"] is True
    plugin = setup.request("POST", "/explain?method=constant&dry_run=true", json=payload())
    assert plugin.status_code == 200
    answer = plugin.json()
    assert answer["estimate"]["model_calls"] is None and answer["estimate"]["rows"] is None
    assert answer["within_budget"] is None
    assert setup.submitted == [] and setup.stored() == 0


def test_the_compatibility_routes_honour_dry_run(setup: Setup) -> None:
    """``dry_run`` is not a method parameter there either: it must not run for real."""
    rows = [[39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical",
             "Not-in-family", "White", "Male", 2174, 0, 40]]  # fmt: skip
    before = setup.model_requests()
    for route, body in [
        ("/v1/models/income:explain", {"instances": rows}),
        ("/api/v1.0/explain", {"data": {"names": paths.FEATURES, "ndarray": rows}}),
    ]:
        response = setup.request("POST", f"{route}?method=shap&dry_run=true", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["method"] == "shap" and response.json()["within_budget"] is True
    assert setup.model_requests() == before
    assert setup.submitted == [] and setup.stored() == 0


def test_a_drill_down_link_needs_a_payload_only_for_a_method_that_explains_one_row(
    setup: Setup,
) -> None:
    overall = setup.request("GET", "/explain", params={"method": "importance", "dry_run": "true"})
    assert overall.status_code == 200, overall.text
    assert overall.json()["method"] == "importance"
    one_row = setup.request("GET", "/explain", params={"method": "shap", "dry_run": "true"})
    assert one_row.status_code == 422
    assert one_row.json()["error"]["code"] == "invalid_payload"
    unknown = setup.request("GET", "/explain", params={"method": "lime", "dry_run": "true"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_method"  # not a payload to send
    assert setup.submitted == [] and setup.stored() == 0


def dry(setup: Setup, query: str) -> dict[str, Any]:
    response = setup.request("POST", f"/explain?{query}&dry_run=true", json=payload())
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("method", "explanations", "check_rows"),
    [("anchors", 1, 2 * 500), ("shap", 2, 0), ("counterfactual", 1, 2 * 3)],
)
def test_a_dry_run_of_a_comparison_costs_both_versions(
    compared: Setup, method: str, explanations: int, check_rows: int
) -> None:
    """compare=candidate: the model's explanation, the candidate's (twice for SHAP, whose
    values are computed again for the model's class when the versions disagree), and the
    comparison's checks (anchors: models.rule_rows rows to each version; counterfactuals:
    each version's, at most ``total``, to the other), summed; nothing is called."""
    before = compared.model_requests()
    one = dry(compared, f"method={method}&seed=1")
    both = dry(compared, f"method={method}&seed=1&compare=candidate")
    single = one["estimate"]
    versions = both["versions"]
    assert one["versions"] is None
    assert versions["model"] == single
    assert versions["candidate"]["rows"] == explanations * single["rows"]
    assert versions["candidate"]["model_calls"] == explanations * single["model_calls"]
    assert versions["checks"]["rows"] == check_rows
    assert versions["checks"]["model_calls"] == (2 if check_rows else 0)  # one call a version
    assert both["estimate"]["rows"] == sum(v["rows"] for v in versions.values())
    assert both["estimate"]["model_calls"] == sum(v["model_calls"] for v in versions.values())
    assert both["estimate"]["rows"] > 2 * single["rows"] - 1
    assert both["instances"] == 1 + explanations
    assert both["within_budget"] is one["within_budget"] is True
    assert compared.model_requests() == before
    assert compared.submitted == [] and compared.stored() == 0


def test_a_dry_run_of_a_comparison_is_checked_as_one(compared: Setup, setup: Setup) -> None:
    """What compare=candidate refuses, its dry run refuses too, naming the field; without
    a candidate, 404."""
    for query, field in [
        ("method=importance&compare=candidate", "compare"),
        ("method=anchors&compare=candidate&instance=all", "instance"),
        ("method=anchors&compare=other", "compare"),
    ]:
        response = compared.request("POST", f"/explain?{query}&dry_run=true", json=payload())
        assert response.status_code == 422, response.text
        assert response.json()["error"]["detail"]["field"] == field
    missing = setup.request(
        "POST", "/explain?method=anchors&compare=candidate&dry_run=true", json=payload()
    )
    assert missing.status_code == 404
    assert compared.submitted == setup.submitted == []
