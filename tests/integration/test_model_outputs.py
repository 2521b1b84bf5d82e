"""What a model answers decides the methods it is offered and the order of its classes.

A regression model with no ``explainers`` section becomes ready with the methods a
regression allows (SHAP, counterfactuals with ``desired_range``, importance), and anchors
configured for it stop ``explainer-service serve`` with a configuration error. A model that
answers labels ``2``, ``3``, ``10`` has them in that order in every method, and
``desired_class=10`` in a query is the class named ``"10"``. The model is
``tests.helpers.servers.formula_model``, a real process, as is the service.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from examples.income import paths
from tests.helpers.ground_truth import additive_regression
from tests.helpers.servers.formula_model import PATH, labels
from tests.helpers.support import (
    ServerProcess,
    explainer_service,
    free_port,
    python_server,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

LIMIT_S = 600


def formula_model(output_dir: Path, *args: str) -> ServerProcess:
    port = free_port()
    name = "-".join(a.replace(",", "_") for a in args if not a.startswith("--"))
    server = python_server(
        "tests.helpers.servers.formula_model",
        port,
        *args,
        log=output_dir / f"formula-model-{name}.log",
    ).wait_ready()
    server.base_url = f"http://127.0.0.1:{port}"
    return server


def service_config(model: str, reference: Path, target: str, **model_keys: Any) -> dict:
    return {
        "model": {"name": "formula", "url": model + PATH, "retries": 0, **model_keys},
        "data": {"reference": str(reference), "target": target},
        "features": {"source": "reference"},
        "service": {"store": ":memory:", "workers": 1, "ready_interval_s": 0.3},
    }


def holdout_rows() -> list[list[Any]]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    return [[v.item() if hasattr(v, "item") else v for v in row] for row in frame.values]


def records(row: list[Any]) -> dict[str, Any]:
    return {"instances": [dict(zip(paths.FEATURES, row, strict=True))]}


def explain(base: str, method: str, row: list[Any] | None, query: str = "") -> httpx.Response:
    body = records(row) if row is not None else None
    url = f"{base}/explain?method={method}{query}"
    return HTTP.post(url, json=body, timeout=LIMIT_S)


def explained(base: str, method: str, row: list[Any] | None, query: str = "") -> dict[str, Any]:
    response = explain(base, method, row, query)
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- a regression ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regression(income_files: Path, output_dir: Path, tmp_path_factory) -> Iterator[str]:
    """The service of a regression model with no ``explainers`` section; its base URL."""
    directory = tmp_path_factory.mktemp("regression")
    reference = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    reference["value"] = additive_regression(reference.values.tolist())
    reference.to_csv(directory / "reference.csv", index=False)
    model = formula_model(output_dir, "--output", "regression")
    config = service_config(
        model.base_url, directory / "reference.csv", "value", output="regression"
    )
    process, base = explainer_service(config, directory, output_dir / "service-regression.log")
    try:
        wait_until_ready(base, timeout=LIMIT_S)
        yield base
    finally:
        process.stop()
        model.stop()


def test_a_regression_explains_with_the_methods_it_allows(regression: str) -> None:
    row = holdout_rows()[0]
    value = float(additive_regression([row])[0])

    shap = explained(regression, "shap", row)
    assert shap["prediction"]["value"] == pytest.approx(value)
    assert shap["result"]["output"] == "value"
    assert shap["fidelity"]["additivity_error"] < 1e-6
    by_feature = {c["feature"]: c["shap"] for c in shap["result"]["contributions"]}
    assert by_feature["gender"] == 0 and by_feature["age"] != 0  # the formula ignores gender

    low, high = value + 10, value + 80
    counterfactual = explained(
        regression, "counterfactual", row, f"&desired_range=[{low},{high}]&total=2"
    )
    assert counterfactual["result"]["found"], counterfactual["result"]["message"]
    for found in counterfactual["result"]["counterfactuals"]:
        assert found["valid"]
        assert low <= found["prediction"]["value"] <= high
        assert low <= float(additive_regression([list(found["values"].values())])[0]) <= high

    importance = explained(regression, "importance", None, "&rows=300&iterations=2")
    assert importance["result"]["scoring"] == "r2"
    assert importance["result"]["baseline_score"] == pytest.approx(1.0)
    means = {f["feature"]: f["mean"] for f in importance["result"]["features"]}
    assert means["age"] > 0 and means["gender"] == 0


def test_a_regression_refuses_what_it_has_not(regression: str) -> None:
    row = holdout_rows()[0]
    for method, query, field in [
        ("counterfactual", "", "desired_range"),
        ("counterfactual", "&desired_range=[1,2]&desired_class=1", "desired_class"),
        ("shap", "&link=logit", "link"),
        ("anchors", "", "method"),
    ]:
        response = explain(regression, method, row, query)
        assert response.status_code == 422, (method, query, response.text)
        error = response.json()["error"]
        assert error["detail"]["field"] == field and error["request_id"], error


def test_anchors_configured_for_a_regression_stop_the_service(
    income_files: Path, tmp_path: Path
) -> None:
    config = service_config(
        f"http://127.0.0.1:{free_port()}", paths.REFERENCE, "loan", output="regression"
    )
    config["explainers"] = {"anchors": {}, "shap": {}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    script = Path(sys.executable).parent / "explainer-service"
    result = subprocess.run(
        [str(script), "serve", "--config", str(tmp_path / "c.yaml"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
    )
    assert result.returncode == 2, result.stderr
    assert (
        "configuration error: explainers.anchors: the anchors method explains classifiers; "
        "the model is a regression"
    ) in result.stderr
    assert "Traceback" not in result.stderr


# --- labels in the model's order ------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[("0", "1"), ("2", "3", "10")],
    ids=["0-1 configured", "2-3-10 inferred"],
)
def labelled(
    request: pytest.FixtureRequest, income_files: Path, output_dir: Path, tmp_path_factory
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """A service of a model that answers the labels ``request.param`` (lowest band first):
    configured as ``model.class_names`` for 0/1, inferred from the labelled reference data
    for 2/3/10. Yields (base URL, the classes in the model's order)."""
    classes: tuple[str, ...] = request.param
    directory = tmp_path_factory.mktemp("labels")
    reference = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    reference["band"] = [int(label) for label in labels(reference.values.tolist(), classes)]
    reference.to_csv(directory / "reference.csv", index=False)
    model = formula_model(output_dir, "--output", "labels", "--classes", ",".join(classes))
    named = {"class_names": list(classes)} if len(classes) == 2 else {}
    config = service_config(
        model.base_url, directory / "reference.csv", "band", output="labels", **named
    )
    config["explainers"] = {
        "anchors": {},
        "shap": {"nsamples": 200},
        "counterfactual": {"total": 2},
        "importance": {"rows": 300, "iterations": 2},
    }
    log = output_dir / f"service-labels-{'-'.join(classes)}.log"
    process, base = explainer_service(config, directory, log)
    try:
        wait_until_ready(base, timeout=LIMIT_S)
        yield base, classes
    finally:
        process.stop()
        model.stop()


def lowest_band_row(classes: tuple[str, ...]) -> list[Any]:
    rows = holdout_rows()
    return next(row for row in rows if labels([row], classes)[0] == classes[0])


def test_desired_class_in_the_query_is_the_class_of_that_name(
    labelled: tuple[str, tuple[str, ...]],
) -> None:
    base, classes = labelled
    row = lowest_band_row(classes)
    wanted = classes[-1]  # "1", "10": numbers in the query
    answer = explained(base, "counterfactual", row, f"&desired_class={wanted}")
    assert (answer["prediction"]["label"], answer["prediction"]["class_index"]) == (classes[0], 0)
    assert answer["result"]["desired"] == wanted
    assert answer["result"]["found"], answer["result"]["message"]
    for found in answer["result"]["counterfactuals"]:
        assert found["valid"]
        assert labels([list(found["values"].values())], classes) == [wanted]
        assert found["prediction"]["label"] == wanted
        assert found["prediction"]["class_index"] == len(classes) - 1
    # alibi's target_class, as MLServer's clients send it, is an index in the model's order
    tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "BYTES", "data": row}
    target = {"target_class": [len(classes) - 1]}
    body = {"inputs": [tensor], "parameters": {"explain_parameters": target}}
    response = HTTP.post(
        f"{base}/v2/models/formula-counterfactual/infer", json=body, timeout=LIMIT_S
    )
    assert response.status_code == 200, response.text
    alibi = json.loads(response.json()["outputs"][0]["data"][0])
    assert alibi["meta"]["params"]["desired_class"] == wanted
    assert alibi["data"]["orig_class"] == 0
    assert {cf["class"] for cf in alibi["data"]["all"]["0"]} == {len(classes) - 1}


def test_every_method_reports_the_classes_in_the_models_order(
    labelled: tuple[str, tuple[str, ...]],
) -> None:
    base, classes = labelled
    highest = max(holdout_rows(), key=lambda row: additive_regression([row])[0])
    for row in (lowest_band_row(classes), highest):
        label = labels([row], classes)[0]
        index = classes.index(label)

        anchors = explained(base, "anchors", row, "&format=alibi")
        told = anchors["meta"]["explainer_service"]["prediction"]
        assert (told["label"], told["class_index"]) == (label, index)
        assert anchors["data"]["raw"]["prediction"] == [index]  # alibi's: the class index

        shap = explained(base, "shap", row, "&format=alibi")
        assert shap["meta"]["explainer_service"]["prediction"]["class_index"] == index
        per_class = shap["data"]["shap_values"]
        assert len(per_class) == len(shap["data"]["expected_value"]) == len(classes)
        assert per_class[index] is not None  # the explained (predicted) class
        own = explained(base, "shap", row)
        assert own["result"]["output"] == label
        assert per_class[index] == [[c["shap"] for c in own["result"]["contributions"]]]

    importance = explained(base, "importance", None)
    assert importance["result"]["scoring"] == "accuracy"
    assert importance["result"]["baseline_score"] == 1.0  # the labels are the model's own
    means = {f["feature"]: f["mean"] for f in importance["result"]["features"]}
    assert means["age"] > 0 and means["gender"] == 0
