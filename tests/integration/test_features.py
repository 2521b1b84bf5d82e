"""Reference data with an id and a timestamp column still serves the model the inputs it
reads (the example model refuses a call with any other column, and readiness never comes):
named by features.names, or by the model's own V2 metadata (the example model server's, and
MLServer 1.6.1's with declared inputs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from examples.income import paths
from explainers.wire import native
from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.support import mlserver as start_mlserver
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration


def with_extra_columns(directory: Path) -> Path:
    """The reference data with an id first and a timestamp last; returns its path."""
    reference = pd.read_csv(paths.REFERENCE)
    reference.insert(0, "applicant_id", range(len(reference)))
    reference["received_at"] = "2026-01-01T00:00:00"
    reference.to_csv(directory / "reference.csv", index=False)
    return directory / "reference.csv"


def explained_features(base: str) -> set[str]:
    """The features of a SHAP explanation of the first held-out applicant (as records)."""
    record = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[0].to_dict()
    record = {k: native(v) for k, v in record.items()}
    body = {"instances": [record]}
    answer = HTTP.post(f"{base}/explain?method=shap", json=body, timeout=300)
    assert answer.status_code == 200, answer.text
    return {c["feature"] for c in answer.json()["result"]["contributions"]}


@pytest.mark.parametrize("named_by", ["features.names", "the model's V2 metadata"])
def test_extra_reference_columns_are_ignored(
    income_server: str, tmp_path: Path, output_dir: Path, named_by: str
) -> None:
    config = {
        "model": {
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(with_extra_columns(tmp_path)), "target": "loan"},
        "service": {"store": ":memory:", "workers": 1},
        "explainers": {"shap": {"nsamples": 200}},
    }
    log = output_dir / f"service-features-{named_by.split()[-1]}.log"
    env = {"EXPLAINER_FEATURES__NAMES": ",".join(paths.FEATURES)}  # as a manifest would set it
    process, base = explainer_service(
        config, tmp_path, log, env=env if named_by == "features.names" else None
    )
    try:
        wait_until_ready(base)
        assert explained_features(base) == set(paths.FEATURES)
    finally:
        process.stop()
    text = log.read_text()
    assert f"not in {named_by}, ignored: applicant_id, received_at" in text, text[-3000:]
    assert text.count("ignored: applicant_id") == 1  # the service says it once, not each worker


@pytest.mark.mlserver
def test_the_features_are_the_inputs_mlserver_declares(
    income_files: Path, tmp_path: Path, output_dir: Path
) -> None:
    """No features.names: the service reads MLServer's model metadata (the inputs of its
    model-settings.json), takes the features from it in its order, and ignores the id."""
    inputs = [
        {"name": f, "datatype": "BYTES" if f in paths.CATEGORICAL else "INT64", "shape": [-1]}
        for f in paths.FEATURES
    ]
    repo = tmp_path / "mlserver"
    repo.mkdir()
    server = start_mlserver(
        repo,
        {"income": paths.MODEL},
        output_dir / "mlserver-features.log",
        declared={"income": {"inputs": inputs}},
    )
    reference = with_extra_columns(tmp_path)
    shuffled = pd.read_csv(reference)
    shuffled = shuffled[[*reversed(shuffled.columns)]]  # not the model's order
    shuffled.to_csv(reference, index=False)
    config = {
        "model": {
            "url": f"{server.base_url}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "v2": {"input_layout": "columnar", "output_name": "predict_proba"},
        },
        "data": {"reference": str(reference), "target": "loan"},
        "service": {"store": ":memory:", "workers": 1},
        "explainers": {"shap": {"nsamples": 200}},
    }
    log = output_dir / "service-mlserver-features.log"
    try:
        process, base = explainer_service(config, tmp_path, log, log_level="info")
        try:
            wait_until_ready(base)
            assert explained_features(base) == set(paths.FEATURES)
        finally:
            process.stop()
    finally:
        server.stop()
    text = log.read_text()
    said = f"features (the model's V2 metadata): {', '.join(paths.FEATURES)}"
    assert said in text, text[-3000:]
    ignored = "not in the model's V2 metadata, ignored: received_at, applicant_id"
    assert text.count(ignored) == 1, text[-3000:]
