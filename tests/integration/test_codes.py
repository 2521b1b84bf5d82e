"""Models that take categories as numeric codes, the usual case for a tensor model.

MLServer 1.6.1 (scikit-learn runtime) serves two random forests trained on the census
reference data with every categorical feature replaced by a number; they take one
``[n, 12]`` tensor and the payloads are FP64 tensors, so a code arrives as ``4.0``:

- ``income-index``: the code is the category's index among the sorted names; the service
  is told so with ``overrides: {feature: {wire: code, categories: [names]}}``, and the
  reference data holds the codes as floats;
- ``income-spread``: the codes are 1, 4, 7, ... (not 0..k-1, and ``"10" < "4"`` as text);
  the service is only told ``categorical: [...]``, the reference data holds the codes.

Every method must answer through the real service, and what reaches the model must be the
codes the model was trained on: the live predictions equal the forest's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from examples.income import paths
from explainers import Explanation
from tests.helpers.support import explainer_service, mlserver, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = [pytest.mark.integration, pytest.mark.mlserver]

ENCODINGS: dict[str, Callable[[int], int]] = {
    "index": lambda i: i,
    "spread": lambda i: 3 * i + 1,
}


@dataclass
class Coded:
    """One model trained on codes, and what the service is configured with for it."""

    name: str
    forest: RandomForestClassifier
    codes: dict[str, dict[str, int]]  # feature -> category name -> code
    reference: Path
    features: dict
    url: str = ""


def encode(frame: pd.DataFrame, codes: dict[str, dict[str, int]]) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].map(codes[c]) for c in paths.CATEGORICAL})


@pytest.fixture(scope="module")
def coded(
    income_files: Path, reference: pd.DataFrame, tmp_path_factory, output_dir: Path
) -> Iterator[dict[str, Coded]]:
    directory = tmp_path_factory.mktemp("codes")
    names = {c: sorted(reference[c].unique()) for c in paths.CATEGORICAL}
    models: dict[str, Coded] = {}
    for encoding, code in ENCODINGS.items():
        codes = {c: {name: code(i) for i, name in enumerate(names[c])} for c in names}
        frame = encode(reference, codes)
        if encoding == "index":  # FP64 codes in the reference data too: 4.0
            frame = frame.astype({c: float for c in paths.CATEGORICAL})
        forest = RandomForestClassifier(n_estimators=40, min_samples_leaf=3, random_state=0)
        forest.fit(frame[paths.FEATURES].to_numpy(float), frame[paths.TARGET])
        assert list(forest.classes_) == paths.CLASS_NAMES
        joblib.dump(forest, directory / f"{encoding}.joblib")
        csv = directory / f"reference-{encoding}.csv"
        frame.to_csv(csv, index=False)
        features: dict = {"categorical": paths.CATEGORICAL}
        if encoding == "index":
            features["overrides"] = {c: {"wire": "code", "categories": names[c]} for c in names}
        models[encoding] = Coded(f"income-{encoding}", forest, codes, csv, features)
    repo = directory / "repository"
    repo.mkdir()
    server = mlserver(
        repo,
        {m.name: directory / f"{e}.joblib" for e, m in models.items()},
        output_dir / "mlserver-codes.log",
    )
    try:
        for model in models.values():
            model.url = f"{server.base_url}/v2/models/{model.name}/infer"
        yield models
    finally:
        server.stop()


@pytest.fixture(scope="module", params=list(ENCODINGS))
def service(
    request: pytest.FixtureRequest, coded: dict[str, Coded], tmp_path_factory, output_dir: Path
) -> Iterator[tuple[str, Coded]]:
    model = coded[request.param]
    config = {
        "model": {
            "name": model.name,
            "url": model.url,
            "protocol": "v2",
            "v2": {"output_name": "predict_proba"},
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(model.reference), "target": paths.TARGET},
        "features": {**model.features, "immutable": ["age", "gender", "ethnicity"]},
        "service": {"store": ":memory:", "ready_recheck_s": 3600, "ready_interval_s": 0.3},
        "explainers": {
            "anchors": {"threshold": 0.9},
            "shap": {"nsamples": 200},
            "counterfactual": {"total": 2},
            "importance": {"rows": 3000, "iterations": 1},
        },
    }
    directory = tmp_path_factory.mktemp(model.name)
    process, base = explainer_service(config, directory, output_dir / f"service-{model.name}.log")
    try:
        wait_until_ready(base)
        yield base, model
    finally:
        process.stop()


def applicants(model: Coded, holdout: pd.DataFrame) -> pd.DataFrame:
    """Two held-out applicants as codes: one the forest refuses, one it approves."""
    rows = encode(holdout, model.codes)[paths.FEATURES].astype(float)
    labels = model.forest.predict(rows.to_numpy())
    return pd.concat([rows[labels == "<=50K"].iloc[:1], rows[labels == ">50K"].iloc[:1]])


def fp64_tensor(rows: pd.DataFrame) -> dict:
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.to_numpy(float).ravel().tolist(),
            }
        ]
    }


def forest_proba(model: Coded, values: dict) -> list[float]:
    row = np.array([[float(values[f]) for f in paths.FEATURES]])
    return model.forest.predict_proba(row)[0].tolist()


def explain(base: str, method: str, body: dict | None, query: str = "") -> Explanation:
    response = HTTP.post(f"{base}/explain?method={method}{query}", json=body, timeout=300)
    assert response.status_code == 200, (method, response.text)
    return Explanation.model_validate(
        {k: v for k, v in response.json().items() if k not in ("id", "links")}
    )


def test_every_method_explains_a_coded_model(service: tuple[str, Coded]) -> None:
    base, model = service
    rows = applicants(model, pd.read_csv(paths.HOLDOUT))
    body = fp64_tensor(rows)
    valid = {c: set(model.codes[c].values()) for c in paths.CATEGORICAL}
    for instance in (0, 1):
        expected = rows.iloc[instance]
        for method in ("anchors", "shap", "counterfactual"):
            explanation = explain(base, method, body, f"&instance={instance}")
            assert explanation.instance == {f: expected[f] for f in paths.FEATURES}
            probabilities = explanation.prediction.probabilities
            assert [probabilities[c] for c in paths.CLASS_NAMES] == pytest.approx(
                forest_proba(model, explanation.instance), abs=1e-12
            )
        assert explanation.result.found, explanation.result.message
        for counterfactual in explanation.result.counterfactuals:
            assert counterfactual.valid
            for feature in paths.CATEGORICAL:  # codes, as the model takes them
                value = counterfactual.values[feature]
                assert isinstance(value, int) and value in valid[feature]
            predicted = counterfactual.prediction.probabilities
            assert [predicted[c] for c in paths.CLASS_NAMES] == pytest.approx(
                forest_proba(model, counterfactual.values), abs=1e-12
            )
    importance = explain(base, "importance", None)
    coded_reference = pd.read_csv(model.reference)
    accuracy = float(
        np.mean(
            model.forest.predict(coded_reference[paths.FEATURES].to_numpy(float))
            == coded_reference[paths.TARGET]
        )
    )
    assert importance.result.baseline_score == pytest.approx(accuracy, abs=1e-12)


def test_a_value_that_is_no_code_is_refused_naming_the_feature(
    service: tuple[str, Coded],
) -> None:
    base, model = service
    rows = applicants(model, pd.read_csv(paths.HOLDOUT)).iloc[:1]
    codes = sorted(model.codes["workclass"].values())
    for bad in (codes[1] + 0.5, max(codes) + 1.0, -1.0):
        body = fp64_tensor(rows.assign(workclass=bad))
        response = HTTP.post(f"{base}/explain?method=shap", json=body, timeout=60)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "unknown_category"
        assert error["detail"]["field"] == "workclass"
        assert error["detail"]["valid"] == codes
        assert "workclass" in error["message"] and str(bad) in error["message"]
