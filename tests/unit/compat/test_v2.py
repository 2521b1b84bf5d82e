"""The Open Inference Protocol routes (MLServer's alibi-explain runtime's surface) with a
stand-in worker: names, health, metadata, explain_parameters, the answer's shape, errors;
and ``format=alibi`` on the other routes. Real explanations through them, parsed by
MLServer's and alibi's own code: tests/integration/test_mlserver.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from examples.income import paths
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP

PAYLOAD = json.loads((paths.PAYLOADS / "v2.json").read_text())


@pytest.fixture(scope="module")
def base(income_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = fake_app(tmp_path_factory.mktemp("v2"), model=income_server)
    with served(app) as url:
        wait_for_worker(app, ready=True)
        yield url


def infer(base: str, name: str, body: object, **params: object) -> httpx.Response:
    return HTTP.post(f"{base}/v2/models/{name}/infer", json=body, params=params, timeout=60)


def test_health_server_and_model_metadata(base: str, tmp_path: Path) -> None:
    assert HTTP.get(f"{base}/v2/health/live").json() == {"live": True}
    assert HTTP.get(f"{base}/v2/health/ready").status_code == 200
    assert HTTP.get(f"{base}/v2/models/income-explainer/ready").status_code == 200
    assert HTTP.get(f"{base}/v2").json()["name"] == "explainer-service"
    metadata = HTTP.get(f"{base}/v2/models/income-explainer").json()
    assert [i["name"] for i in metadata["inputs"]] == paths.FEATURES
    types = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert types["workclass"] == "BYTES" and types["age"] in ("INT64", "FP64")
    assert metadata["outputs"] == [{"name": "explanation", "datatype": "BYTES", "shape": [-1, 1]}]
    assert metadata["parameters"]["explainer_method"] == "anchors"
    assert HTTP.get(f"{base}/v2/models/income-shap").json()["parameters"]["explainer_method"] == (
        "shap"
    )
    missing = HTTP.get(f"{base}/v2/models/other")
    assert missing.status_code == 404 and "income-explainer" in missing.json()["error"]["message"]
    # not ready: 400, as MLServer answers (the protocol's "4xx")
    app = fake_app(tmp_path)
    with served(app) as down:
        wait_for_worker(app)
        answer = HTTP.get(f"{down}/v2/health/ready")
        assert answer.status_code == 400 and answer.json()["ready"] is False
        assert answer.json()["reason"]


def test_explain_parameters_reach_the_method_and_the_answer_is_mlservers(base: str) -> None:
    body = {
        **PAYLOAD,
        "id": "req-1",
        "parameters": {"explain_parameters": {"threshold": 0.9, "delta": 0.2, "tau": 0.1}},
    }
    answer = infer(base, "income-explainer", body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-seldon-alibi-type"] == "explanation"
    assert answer.headers["x-seldon-alibi-method"] == "anchor_tabular"
    out = answer.json()
    assert out["model_name"] == "income-explainer" and out["id"] == "req-1"
    assert out["parameters"]["ignored_explain_parameters"] == ["tau"]
    (output,) = out["outputs"]
    assert {k: output[k] for k in ("name", "shape", "datatype")} == {
        "name": "explanation",
        "shape": [1, 1],
        "datatype": "BYTES",
    }
    explanation = json.loads(output["data"][0])
    assert set(explanation) == {"meta", "data"}
    params = explanation["meta"]["params"]  # the stand-in echoes the resolved parameters
    assert params["threshold"] == 0.9 and params["confidence"] == pytest.approx(0.8)
    assert explanation["meta"]["explainer_service"]["id"] == out["parameters"]["explanation_id"]
    # the method follows the name, or ?method=
    shap = json.loads(infer(base, "income-shap", PAYLOAD).json()["outputs"][0]["data"][0])
    assert shap["meta"]["params"]["nsamples"] > 0
    chosen = infer(base, "income", PAYLOAD, method="shap")
    assert chosen.headers["x-seldon-alibi-method"] == "shap_wrappers"


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("other", PAYLOAD, 404, "no model named 'other'"),
        ("income-explainer", [1, 2], 422, "JSON object with 'inputs'"),
        ("income-explainer", {"inputs": []}, 422, "'inputs' is empty"),
        ("income-explainer", {**PAYLOAD, "parameters": [1]}, 422, "'parameters' must be"),
        (
            "income-explainer",
            {**PAYLOAD, "parameters": {"explain_parameters": {"threshold": 2}}},
            422,
            "threshold",
        ),
        (
            "income-explainer",
            {**PAYLOAD, "parameters": {"explain_parameters": {"thresold": 0.9}}},
            422,
            "thresold",
        ),
        (
            "income-counterfactual",
            {**PAYLOAD, "parameters": {"explain_parameters": {"target_class": 5}}},
            422,
            "target_class 5",
        ),
    ],
)
def test_bad_requests_get_clear_errors(
    base: str, name: str, body: object, status: int, message: str
) -> None:
    answer = infer(base, name, body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_a_dry_run_calls_nothing(base: str) -> None:
    answer = infer(base, "income-explainer", PAYLOAD, dry_run="true")
    assert answer.status_code == 200 and answer.json()["method"] == "anchors"
    assert "estimate" in answer.json()


def test_format_alibi_on_explain_and_the_compatibility_routes(base: str) -> None:
    ours = HTTP.post(f"{base}/explain", params={"method": "shap"}, json=PAYLOAD, timeout=60)
    assert "provenance" in ours.json()  # our schema stays the default on /explain
    for route, params in [
        ("/explain", {"method": "shap", "format": "alibi"}),
        ("/v1/models/income:explain", {"method": "shap"}),  # alibi by default here
        ("/api/v1.0/explain", {"method": "shap"}),
    ]:
        body = (
            PAYLOAD
            if route == "/explain"
            else json.loads(
                (
                    paths.PAYLOADS / ("kserve-v1.json" if "v1/" in route else "seldon.json")
                ).read_text()
            )
        )
        answer = HTTP.post(f"{base}{route}", params=params, json=body, timeout=60)
        assert answer.status_code == 200, (route, answer.text)
        assert set(answer.json()) == {"meta", "data"}, route
        assert answer.json()["meta"]["explainer_service"]["method"] == "stand-in"
    native = HTTP.post(
        f"{base}/api/v1.0/explain",
        params={"format": "json"},
        json=json.loads((paths.PAYLOADS / "seldon.json").read_text()),
        timeout=60,
    )
    assert "provenance" in native.json()
    link = HTTP.get(
        f"{base}/explain",
        params={"method": "shap", "format": "alibi", "payload": json.dumps(PAYLOAD)},
        timeout=60,
    )
    assert link.status_code == 200 and set(link.json()) == {"meta", "data"}
