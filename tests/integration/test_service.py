"""The service end to end: the example model server and the service as separate processes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from examples.income import paths
from explainers import Explanation
from tests.helpers.alibi_recorded import AlibiExplanation
from tests.helpers.support import (
    ROOT,
    explainer_service,
    free_port,
    python_server,
    wait_until_fitted,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

ROUTES = {
    "v2": ("/v2/models/income/infer", "v2.json"),
    "seldon": ("/api/v1.0/predictions", "seldon.json"),
    "kserve-v1": ("/v1/models/income:predict", "kserve-v1.json"),
    "mlflow": ("/invocations", "mlflow-split.json"),
    "records": ("/predict", "records.json"),
}
PAGE_TEXT = {
    "anchors": "The model predicts",
    "shap": "SHAP value",
    "counterfactual": 'class="changed"',
}


def config(model_url: str, store: Path, protocol: str = "v2", **service) -> dict:
    return {
        "model": {
            "name": "income",
            "url": model_url,
            "protocol": protocol,
            "class_names": paths.CLASS_NAMES,
            "retries": 1,
            "backoff_s": 0.05,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"]},
        "service": {
            "store": str(store),
            "ready_recheck_s": 3600,
            "ready_interval_s": 0.3,
            **service,
        },
        "explainers": {
            "anchors": {"threshold": 0.95},
            "shap": {"nsamples": 300},
            "counterfactual": {"total": 2},
        },
    }


def payload(name: str) -> dict:
    return json.loads((paths.PAYLOADS / name).read_text())


def requests_served(model_base: str) -> int:
    return HTTP.get(model_base + "/stats").json()["requests"]


def check_explanation(body: dict, method: str) -> Explanation:
    assert set(body) >= {"id", "links"}
    explanation = Explanation.model_validate(
        {k: v for k, v in body.items() if k not in ("id", "links")}
    )
    assert explanation.method == method and explanation.cost.model_calls > 0
    return explanation


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("service")
    store = directory / "store.sqlite"
    process, base = explainer_service(
        config(income_server + ROUTES["v2"][0], store), directory, output_dir / "service-v2.log"
    )
    wait_until_ready(base)
    yield base, store
    process.stop()


#: every method through the V2 codec; each other protocol's codec with one method, so that
#: every method also goes through a protocol other than V2 (the codecs do not know methods)
METHODS = {
    "v2": list(PAGE_TEXT),
    "seldon": ["anchors"],
    "kserve-v1": ["counterfactual"],
    "mlflow": ["shap"],
    "records": ["anchors"],
}


@pytest.mark.parametrize("protocol", list(ROUTES))
def test_each_protocol_explains(
    protocol: str, income_server: str, tmp_path: Path, output_dir: Path
) -> None:
    route, sample = ROUTES[protocol]
    process, base = explainer_service(
        config(income_server + route, tmp_path / "store.sqlite", protocol),
        tmp_path,
        output_dir / f"service-{protocol}.log",
    )
    try:
        wait_until_ready(base)
        body = payload(sample)
        for method in METHODS[protocol]:
            response = HTTP.post(
                f"{base}/explain?method={method}&instance=1", json=body, timeout=120
            )
            assert response.status_code == 200, response.text
            explanation = check_explanation(response.json(), method)
            assert explanation.prediction.label == ">50K"  # the second sample applicant
            page = HTTP.get(base + response.json()["links"]["html"], timeout=30)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert PAGE_TEXT[method] in page.text
            html = HTTP.post(f"{base}/explain?method={method}&instance=1&format=html", json=body)
            assert html.status_code == 200 and PAGE_TEXT[method] in html.text
        records = {"instances": [explanation.instance]}
        again = HTTP.post(f"{base}/explain?method=shap", json=records, timeout=60)
        assert again.status_code == 200
        assert again.json()["instance"] == explanation.instance
    finally:
        process.stop()


def test_drilldown_link_opens_the_same_explanation(service, income_server: str) -> None:
    base, _ = service
    logged = payload("v2.json")
    posted = HTTP.post(f"{base}/explain?method=shap", json=logged, timeout=60).json()
    link = f"{base}/explain?method=shap&payload={quote(json.dumps(logged))}"
    page = HTTP.get(link, timeout=60)
    assert page.status_code == 200 and "SHAP value" in page.text
    assert posted["links"]["json"] in page.text
    as_json = HTTP.get(link + "&format=json", timeout=60).json()
    assert as_json["id"] == posted["id"] and as_json["result"] == posted["result"]


def test_the_same_request_is_answered_from_the_store(
    service, income_server: str, tmp_path, output_dir
) -> None:
    base, store = service
    body = payload("kserve-v1.json")
    records = {"instances": [dict(zip(paths.FEATURES, body["instances"][0], strict=True))]}
    first = HTTP.post(f"{base}/explain?method=counterfactual", json=records, timeout=120).json()
    before = requests_served(income_server)
    second = HTTP.post(f"{base}/explain?method=counterfactual", json=records, timeout=120).json()
    assert requests_served(income_server) == before  # no call reached the model
    assert second == first
    # the store outlives the process
    process, again = explainer_service(
        config(income_server + ROUTES["v2"][0], store), tmp_path, output_dir / "service-restart.log"
    )
    try:
        wait_until_ready(again)
        before = requests_served(income_server)
        stored = HTTP.get(f"{again}/explanations/{first['id']}").json()
        repeated = HTTP.post(
            f"{again}/explain?method=counterfactual", json=records, timeout=120
        ).json()
        assert requests_served(income_server) == before
        assert stored == first and repeated == first
        listed = HTTP.get(f"{again}/explanations?limit=50").json()
        assert first["id"] in {item["id"] for item in listed}
    finally:
        process.stop()


def test_async_mode_answers_at_once_and_the_resource_reports_progress(service) -> None:
    base, _ = service
    body = payload("v2.json")
    response = HTTP.post(f"{base}/explain?method=anchors&mode=async&instance=1&seed=11", json=body)
    assert response.status_code == 202
    location = response.headers["location"]
    assert location == response.json()["links"]["json"]
    seen = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        state = HTTP.get(base + location).json()
        seen.add(state.get("status", "done"))
        if "result" in state:
            break
        time.sleep(0.1)
    assert "result" in state and state["method"] == "anchors"
    assert seen & {"pending", "running"}
    page = HTTP.get(base + location + "?format=html")
    assert "The model predicts" in page.text


def test_compatibility_routes(service) -> None:
    """KServe's and Seldon's routes answer alibi's shape by default, ours with format=json."""
    base, _ = service
    kserve = payload("kserve-v1.json")
    response = HTTP.post(f"{base}/v1/models/income:explain?method=shap", json=kserve, timeout=60)
    assert response.status_code == 200, response.text
    alibi = AlibiExplanation.from_json(response.text)
    assert alibi.meta["name"] == "KernelShap"
    assert alibi.data["raw"]["instances"][0][0] == kserve["instances"][0][0]
    ours = alibi.meta["explainer_service"]
    explanation = HTTP.get(base + ours["links"]["json"], timeout=60).json()
    contributions = [c["shap"] for c in explanation["result"]["contributions"]]
    explained = paths.CLASS_NAMES.index(explanation["result"]["output"])
    assert alibi.data["shap_values"][explained] == [contributions]
    seldon = payload("seldon.json")
    response = HTTP.post(
        f"{base}/api/v1.0/explain?method=shap&format=json", json=seldon, timeout=60
    )
    assert response.status_code == 200, response.text
    assert check_explanation(response.json(), "shap").prediction.label == "<=50K"
    anchors = HTTP.post(f"{base}/api/v1.0/explain", json=seldon, timeout=120)
    assert anchors.status_code == 200, anchors.text
    alibi = AlibiExplanation.from_json(anchors.text)
    assert alibi.meta["name"] == "AnchorTabular" and alibi.anchor and 0 < alibi.precision <= 1
    wrong = HTTP.post(f"{base}/v1/models/other:explain", json=kserve)
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"


@pytest.mark.mlserver
def test_a_client_of_mlservers_explainer_gets_its_answer(service, reference) -> None:
    """MLServer's own codecs build the request (explain_parameters included) and read the
    answer; alibi parses the explanation; the parameters reached the explainer."""
    base, _ = service
    python = ROOT / ".venv-mlserver" / "bin" / "python"
    records = reference[paths.FEATURES].iloc[[4]].to_dict("records")
    parameters = {"threshold": 0.9, "delta": 0.1, "coverage_samples": 1000}
    run = subprocess.run(
        [
            str(python),
            "-m",
            "tests.helpers.mlserver_client",
            f"{base}/v2/models/income-explainer/infer",
            json.dumps(records),
            json.dumps(parameters),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["headers"]["x-seldon-alibi-method"] == "anchor_tabular"
    alibi = AlibiExplanation.from_json(answer["explanation"])
    assert alibi.meta["name"] == "AnchorTabular"
    assert alibi.meta["params"]["threshold"] == 0.9
    assert alibi.meta["params"]["confidence"] == pytest.approx(0.9)
    assert alibi.data["raw"]["instance"] == [records[0][n] for n in paths.FEATURES]
    stored = HTTP.get(base + alibi.meta["explainer_service"]["links"]["json"], timeout=60)
    assert alibi.anchor == stored.json()["result"]["rule"]
    assert alibi.precision == stored.json()["result"]["precision"]
    assert stored.json()["fidelity"]["threshold"] == 0.9


def v2_body(**changes) -> dict:
    body = payload("v2.json")
    data = body["inputs"][0]["data"]
    for index, value in changes.items():
        data[int(index.strip("_"))] = value
    return body


BAD_INPUTS = [
    ("POST", "/explain?method=shap", b"{not json", 400, "not JSON"),
    ("POST", "/explain?method=shap", b"", 422, "empty"),
    ("POST", "/explain?method=shap", {"inputs": []}, 422, "'inputs' is empty"),
    ("POST", "/explain?method=shap", {"data": {"ndarray": [[1]]}}, 422, "not a v2 payload"),
    (
        "POST",
        "/explain?method=shap",
        {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
        422,
        "expected [n, 12]",
    ),
    ("POST", "/explain?method=shap", {"instances": [{"age": 39}]}, 422, "missing feature(s)"),
    (
        "POST",
        "/explain?method=shap",
        v2_body(_1="Astronaut"),
        422,
        "unknown category 'Astronaut' for feature 'workclass'",
    ),
    (
        "POST",
        "/explain?method=shap",
        v2_body(_0="old"),
        422,
        "invalid value 'old' for feature 'age'",
    ),
    ("POST", "/explain?method=lime", payload("v2.json"), 422, "method 'lime' is not configured"),
    ("POST", "/explain?method=shap&nsamples=5", payload("v2.json"), 422, "nsamples"),
    ("POST", "/explain?method=shap&colour=red", payload("v2.json"), 422, "colour"),
    ("POST", "/explain?method=shap&instance=7", payload("v2.json"), 422, "out of range"),
    ("POST", "/explain?method=shap&instance=first", payload("v2.json"), 422, "instance"),
    ("POST", "/explain?method=shap&mode=later", payload("v2.json"), 422, "mode"),
    (
        "POST",
        "/explain?method=shap",
        {"payload": payload("v2.json"), "parameters": [1]},
        422,
        "'parameters' must be an object",
    ),
    *[
        (
            "POST",
            "/explain?method=shap",
            {"payload": payload("v2.json"), "instance": bad},
            422,
            "'instance' must be a row index",
        )
        for bad in ("abc", 1.5, [1], True, -1)
    ],
    ("GET", "/explain?method=shap&payload=%7Bbroken", None, 400, "not JSON"),
    ("GET", "/explain?method=shap", None, 422, "empty"),
    ("GET", "/explanations/0123456789abcdef", None, 404, "no explanation"),
    ("GET", "/explanations?limit=0", None, 422, "limit"),
    ("POST", "/api/v1.0/explain", {"instances": [[1]]}, 422, "not a seldon request"),
    # a shape whose product wraps to 0 in int64, and one that promises 10**7 empty rows
    (
        "POST",
        "/api/v1.0/explain",
        {"data": {"tensor": {"shape": [2**62, 4], "values": []}}},
        422,
        "does not fit 0 values",
    ),
    (
        "POST",
        "/api/v1.0/explain",
        {"data": {"tensor": {"shape": [10**7, 0], "values": []}}},
        422,
        "does not fit 0 values",
    ),
    ("POST", "/explain?method=shap", b"[" * 10_000 + b"]" * 10_000, 422, "nests deeper"),
    ("POST", "/explain?method=shap", b"[" * 40 + b"]" * 40, 422, "nests deeper than 32"),
    ("GET", "/explain?method=shap&payload=" + "%5B" * 50 + "%5D" * 50, None, 422, "nests"),
    ("GET", "/no/such/route", None, 404, "Not Found"),
]


@pytest.mark.parametrize(
    ("verb", "path", "body", "status", "message"), BAD_INPUTS, ids=range(len(BAD_INPUTS))
)
def test_bad_input_gets_a_clear_json_error(service, verb, path, body, status, message) -> None:
    base, _ = service
    content = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else None)
    )
    response = HTTP.request(
        verb, base + path, content=content, headers={"accept": "application/json"}, timeout=30
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"], error
    assert set(error) == {"code", "message", "detail", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


def test_model_failures_say_what_failed_and_log_the_url(
    income_server: str, tmp_path: Path, output_dir: Path
) -> None:
    """A model that is not there (503), and one that answers in another protocol (502): the
    client reads the status, never the model's URL or its answer; the log has both, once.
    The service starts all the same, once the wait for the model's metadata is spent."""
    nowhere = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"
    log = output_dir / "service-down.log"
    down = config(nowhere, tmp_path / "a.sqlite")
    down["model"]["metadata_wait_s"] = 1
    process, base = explainer_service(down, tmp_path, log)
    try:
        state = wait_until_fitted(base)
        assert not state["ready"] and state["reason"].startswith("the model is unreachable")
        assert nowhere not in state["reason"]
        response = HTTP.post(f"{base}/explain?method=shap", json=payload("v2.json"), timeout=60)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "model_unavailable" and nowhere not in response.text
        assert error["message"].startswith("the model is unreachable")
    finally:
        process.stop()
    logged = [line for line in log.read_text().splitlines() if nowhere in line]
    assert any(error["request_id"] in line for line in logged), logged
    assert "the model's V2 metadata gives no features (no answer from" in log.read_text()
    wrong = income_server + "/api/v1.0/predictions"  # a Seldon route, configured as v2
    log = output_dir / "service-wrong.log"
    process, base = explainer_service(config(wrong, tmp_path / "b.sqlite"), tmp_path, log)
    try:
        wait_until_fitted(base)
        response = HTTP.post(f"{base}/explain?method=shap", json=payload("v2.json"), timeout=60)
        assert response.status_code == 502, response.text
        error = response.json()["error"]
        assert (error["message"], error["detail"]) == (
            "the model answered HTTP 400",
            {"status": 400},
        )
        assert income_server not in response.text and "bad seldon request" not in response.text
    finally:
        process.stop()
    [logged] = [line for line in log.read_text().splitlines() if wrong in line]
    assert "WARNING" in logged and "bad seldon request" in logged and error["request_id"] in logged


def test_ready_flips_once_the_model_comes_up(
    income_files, tmp_path: Path, output_dir: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v2/models/income/infer"
    early = config(url, tmp_path / "s.sqlite")
    early["model"]["metadata_wait_s"] = 1  # then the reference columns: live before the model
    process, base = explainer_service(early, tmp_path, output_dir / "service-early.log")
    model = None
    try:
        assert HTTP.get(base + "/health/live").status_code == 200
        not_ready = HTTP.get(base + "/health/ready")
        assert not_ready.status_code == 503 and not_ready.json()["reason"]
        model = python_server(
            "examples.income.model_server", port, log=output_dir / "late-model.log"
        ).wait_ready()
        wait_until_ready(base, timeout=30)
    finally:
        if model:
            model.stop()
        process.stop()


def test_liveness_answers_while_anchors_run(service, output_dir: Path) -> None:
    base, _ = service
    body = payload("v2.json")
    with ThreadPoolExecutor(4) as pool:
        running = [
            pool.submit(
                httpx.post,
                f"{base}/explain?method=anchors&seed={100 + i}&instance={i % 2}",
                json=body,
                timeout=300,
            )
            for i in range(4)
        ]
        slowest = 0.0
        checks = 0
        client = httpx.Client(timeout=30)  # one connection: time the service, not client set-up
        while not all(f.done() for f in running):
            started = time.perf_counter()
            assert client.get(base + "/health/live").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            checks += 1
            time.sleep(0.05)
        client.close()
        assert all(f.result().status_code == 200 for f in running)
    (output_dir / "liveness-under-load.txt").write_text(
        f"{checks} /health/live checks while 4 anchors explanations ran; "
        f"slowest {slowest * 1000:.1f} ms\n"
    )
    # no timing assertion (CI may run on a busy machine): liveness must answer every check
    # while the explanations run in the workers; the slowest answer is kept for reading
    assert checks > 5
