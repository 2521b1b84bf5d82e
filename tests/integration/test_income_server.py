"""RemoteModel against the real example model server process, in every protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainer_service import ModelSettings, RemoteModel
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

ROUTES = {
    "v2": "/v2/models/income/infer",
    "seldon": "/api/v1.0/predictions",
    "kserve-v1": "/v1/models/income:predict",
    "mlflow": "/invocations",
    "records": "/predict",
}
VARIANTS = [
    ("v2", {}),
    ("v2", {"v2": {"input_layout": "columnar", "output_name": "predict_proba"}}),
    ("seldon", {}),
    ("kserve-v1", {}),
    ("kserve-v1", {"kserve_v1": {"instance_format": "dict"}}),
    ("mlflow", {}),
    ("mlflow", {"mlflow": {"format": "dataframe_records"}}),
    ("records", {}),
]


def remote(base_url: str, protocol: str, **options) -> RemoteModel:
    settings = ModelSettings(
        name="income",
        url=base_url + ROUTES[protocol],
        protocol=protocol,
        class_names=paths.CLASS_NAMES,
        **options,
    )
    return RemoteModel(settings, paths.FEATURES)


def served(base_url: str) -> dict:
    return HTTP.get(base_url + "/stats").json()


@pytest.mark.parametrize(("protocol", "options"), VARIANTS, ids=lambda v: str(v))
def test_predictions_equal_the_in_process_model(
    income_server: str, income_pipeline, reference: pd.DataFrame, protocol: str, options: dict
) -> None:
    sample = reference[paths.FEATURES].head(500)
    rows = sample.values.tolist()
    with remote(income_server, protocol, **options) as model:
        scores = model.predict(rows)
    np.testing.assert_allclose(scores, income_pipeline.predict_proba(sample), rtol=0, atol=1e-12)


def test_ten_thousand_rows_arrive_as_ten_requests_in_order(
    income_server: str, income_pipeline, reference: pd.DataFrame
) -> None:
    holdout = pd.read_csv(paths.HOLDOUT)
    frame = pd.concat([reference, holdout] * 2)[paths.FEATURES].head(10_000)
    assert len(frame) == 10_000
    before = served(income_server)
    with remote(income_server, "kserve-v1", max_batch_rows=1000, concurrency=4) as model:
        scores = model.predict(frame.values.tolist())
        assert (model.stats.calls, model.stats.rows) == (10, 10_000)
    after = served(income_server)
    assert after["requests"] - before["requests"] == 10
    assert after["rows"] - before["rows"] == 10_000
    np.testing.assert_allclose(scores, income_pipeline.predict_proba(frame), atol=1e-12)


def test_every_call_is_marked_synthetic_and_carries_configured_headers(
    income_server: str, reference: pd.DataFrame
) -> None:
    before = served(income_server)["headers"]
    with remote(income_server, "v2", headers={"Authorization": "Bearer t0ken"}) as model:
        model.predict(reference[paths.FEATURES].head(3).values.tolist())
        model.predict(reference[paths.FEATURES].head(1).values.tolist())
    after = served(income_server)["headers"]
    for header in ("seldon-skip-logging: true", "authorization: Bearer t0ken"):
        assert after.get(header, 0) - before.get(header, 0) == 2


PAYLOAD_ROUTES = {
    "v2": ROUTES["v2"],
    "v2-columnar": ROUTES["v2"],
    "seldon": ROUTES["seldon"],
    "kserve-v1": ROUTES["kserve-v1"],
    "mlflow-split": ROUTES["mlflow"],
    "mlflow-records": ROUTES["mlflow"],
    "records": ROUTES["records"],
}


def test_sample_payloads_are_one_refused_and_one_approved_applicant(income_server: str) -> None:
    """train.py writes the same two applicants in every protocol; the server agrees on them."""
    answers = {}
    for name, route in PAYLOAD_ROUTES.items():
        body = (paths.PAYLOADS / f"{name}.json").read_text()
        response = HTTP.post(income_server + route, content=body)
        assert response.status_code == 200, (name, response.text)
        answer = response.json()
        scores = (
            np.reshape(answer["outputs"][0]["data"], answer["outputs"][0]["shape"])
            if "outputs" in answer
            else np.array(answer["data"]["ndarray"] if "data" in answer else answer["predictions"])
        )
        answers[name] = scores
    first = answers["v2"]
    assert first[0, 1] < 0.5 < first[1, 1]
    for name, scores in answers.items():
        np.testing.assert_array_equal(scores, first, err_msg=name)


def test_labels_output(income_files, output_dir, reference: pd.DataFrame, income_pipeline) -> None:
    from tests.helpers.support import free_port, python_server

    port = free_port()
    server = python_server(
        "examples.income.model_server",
        port,
        "--output",
        "labels",
        log=output_dir / "income-server-labels.log",
    ).wait_ready()
    try:
        settings = ModelSettings(
            url=f"http://127.0.0.1:{port}/v2/models/income/infer", protocol="v2", output="labels"
        )
        sample = reference[paths.FEATURES].head(50)
        with RemoteModel(settings, paths.FEATURES) as model:
            labels = model.predict(sample.values.tolist())
        assert labels.tolist() == income_pipeline.predict(sample).tolist()
    finally:
        server.stop()
