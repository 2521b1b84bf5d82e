"""The ``explainer-service`` console script, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from examples.income import paths
from tests.helpers.postgres import Cluster
from tests.helpers.support import free_port
from tests.integration.test_pool import config

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).parent / "explainer-service"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def income_config(server: str, directory: Path) -> Path:
    """The example's configuration, for the model server at ``server``."""
    config = directory / "explainer.yaml"
    text = (paths.HERE / "explainer.yaml").read_text()
    config.write_text(
        text.replace("http://127.0.0.1:9000", server).replace(
            "examples/income/data/reference.csv", str(paths.REFERENCE)
        )
    )
    return config


def split_scores(pipeline) -> list:
    """What the model answers for ``mlflow-split.json``."""
    body = json.loads((paths.PAYLOADS / "mlflow-split.json").read_text())["dataframe_split"]
    return pipeline.predict_proba(pd.DataFrame(body["data"], columns=body["columns"])).tolist()


def test_predict_sends_a_logged_payload(income_server: str, income_pipeline) -> None:
    result = run(
        "predict", str(paths.PAYLOADS / "mlflow-split.json"),
        "--url", income_server + "/invocations", "--protocol", "mlflow",
        "--model-output", "probabilities",
        "--reference", str(paths.REFERENCE), "--target", "loan",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 2, "scores": split_scores(income_pipeline)}


def test_predict_reads_the_configuration(income_server: str, income_pipeline, tmp_path) -> None:
    config = income_config(income_server, tmp_path)
    result = run("predict", str(paths.PAYLOADS / "v2.json"), "--config", str(config))
    assert result.returncode == 0, result.stderr
    (tensor,) = json.loads((paths.PAYLOADS / "v2.json").read_text())["inputs"]  # 2 x 12
    data, width = tensor["data"], tensor["shape"][1]
    rows = pd.DataFrame([data[:width], data[width:]], columns=paths.FEATURES)
    expected = income_pipeline.predict_proba(rows).tolist()
    assert json.loads(result.stdout) == {"rows": 2, "scores": expected}


def test_predict_options_override_the_configuration(
    income_server: str, income_pipeline, tmp_path
) -> None:
    config = income_config(income_server, tmp_path)
    result = run(
        "predict", str(paths.PAYLOADS / "mlflow-split.json"), "--config", str(config),
        "--url", income_server + "/invocations", "--protocol", "mlflow",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 2, "scores": split_scores(income_pipeline)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "configuration error: without --config, give --url and --reference"),
        (["--url", "nowhere", "--reference", "x.csv"], "invalid options: --url: Input should"),
        (["--output", "labels"], "No such option: --output"),
    ],
)
def test_predict_without_what_it_needs_says_what(args: list[str], message: str) -> None:
    result = run("predict", str(paths.PAYLOADS / "v2.json"), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_predict_with_the_wrong_protocol_says_why(income_server: str) -> None:
    result = run(
        "predict", str(paths.PAYLOADS / "seldon.json"),
        "--url", income_server + "/v2/models/income/infer", "--protocol", "v2",
        "--reference", str(paths.REFERENCE), "--target", "loan",
    )  # fmt: skip
    assert result.returncode == 2
    assert "missing 'inputs'" in result.stderr


def test_explain_prints_the_explanation(income_server: str, tmp_path) -> None:
    from explainers import Explanation

    config = income_config(income_server, tmp_path)
    result = run(
        "explain", str(paths.PAYLOADS / "v2.json"), "--config", str(config),
        "--method", "shap", "--instance", "1", "-p", "nsamples=200",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    explanation = Explanation.model_validate_json(result.stdout)
    assert explanation.method == "shap" and explanation.prediction.label == ">50K"
    assert explanation.provenance.params["nsamples"] == 200
    assert explanation.fidelity.additivity_error < 1e-6


def test_explain_reports_a_bad_configuration(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  url: nowhere\ndata:\n  reference: x.csv\n")
    result = run("explain", "--config", str(config), "--method", "shap")
    assert result.returncode == 2
    assert "model.url" in result.stderr


def test_links_prints_one_drilldown_link_per_method() -> None:
    from urllib.parse import parse_qs, urlsplit

    result = run("links", str(paths.PAYLOADS / "v2.json"), "--base-url", "http://explainer:8080/")
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [name for name, _ in lines] == ["anchors", "shap", "counterfactual"]
    for name, link in lines:
        parts = urlsplit(link)
        assert (parts.netloc, parts.path) == ("explainer:8080", "/explain")
        query = parse_qs(parts.query)
        assert query["method"] == [name]
        assert json.loads(query["payload"][0]) == json.loads(
            (paths.PAYLOADS / "v2.json").read_text()
        )


def test_links_are_signed_with_the_services_secret(tmp_path) -> None:
    from urllib.parse import unquote, urlsplit

    from explainer_service.security import LinkSigner

    secret = "the-link-secret-0123456789"
    config = tmp_path / "explainer.yaml"
    config.write_text(
        f"model: {{url: 'http://127.0.0.1:9/v2/models/m/infer'}}\n"
        f"data: {{reference: '{paths.REFERENCE}'}}\n"
        f"auth: {{link_secret: {secret}, public_base_url: 'https://explainer.example.org'}}\n"
    )
    result = run("links", str(paths.PAYLOADS / "v2.json"), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    for _, link in (line.split("\t") for line in result.stdout.splitlines()):
        parts = urlsplit(link)
        assert parts.netloc == "explainer.example.org" and "&sig=" in parts.query
        LinkSigner(secret.encode(), ttl_s=1).verify(unquote(parts.path), parts.query)


@pytest.mark.parametrize("command", ["serve", "batch"])
def test_a_store_it_cannot_open_stops_it_without_printing_the_password(
    command: str, postgres: Cluster, tmp_path: Path
) -> None:
    wrong = "Wr0ng-pa55word"
    settings = config(f"http://127.0.0.1:{free_port()}/v1/models/income:predict", tmp_path)
    settings["service"]["store"] = postgres.url().replace("explainer@", f"explainer:{wrong}@")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(settings))
    if command == "serve":
        args = ["--port", str(free_port())]
    else:  # the rows are read first; the store is opened before anything is explained
        rows = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].head(2)
        rows.to_csv(tmp_path / "rows.csv", index=False)
        args = ["--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "out.csv")]
    result = subprocess.run(
        [str(SCRIPT), command, "--config", str(tmp_path / "c.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "store error: cannot connect to the store postgresql://explainer:***@" in result.stderr
    assert "password authentication failed" in result.stderr
    assert wrong not in result.stderr + result.stdout and "Traceback" not in result.stderr
