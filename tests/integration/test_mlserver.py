"""RemoteModel against MLServer 1.6.1, a third-party Open Inference Protocol server.

MLServer lives in its own virtual environment (``make mlserver``); it serves the same raw
feature ``model.joblib`` with its scikit-learn runtime. Its pandas codec wants the columnar
layout: one named input per feature and ``parameters.content_type = "pd"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainer_service import ModelResponseError, ModelSettings, RemoteModel
from tests.helpers.support import mlserver as start_mlserver

pytestmark = [pytest.mark.integration, pytest.mark.mlserver]


@pytest.fixture(scope="module")
def mlserver(income_files: Path, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    repo = tmp_path_factory.mktemp("mlserver")
    server = start_mlserver(repo, {"income": paths.MODEL}, output_dir / "mlserver.log")
    try:
        yield f"{server.base_url}/v2/models/income/infer"
    finally:
        server.stop()


def columnar(url: str, **overrides) -> RemoteModel:
    settings = ModelSettings(
        name="income",
        url=url,
        protocol="v2",
        class_names=paths.CLASS_NAMES,
        v2={"input_layout": "columnar", "output_name": "predict_proba"},
        **overrides,
    )
    return RemoteModel(settings, paths.FEATURES)


def test_mlserver_predictions_equal_the_in_process_model(
    mlserver: str, income_pipeline, reference: pd.DataFrame
) -> None:
    sample = reference[paths.FEATURES].head(500)
    with columnar(mlserver, max_batch_rows=200) as model:
        scores = model.predict(sample.values.tolist())
        assert model.stats.calls == 3
    np.testing.assert_allclose(scores, income_pipeline.predict_proba(sample), rtol=0, atol=1e-12)


def test_mlserver_labels_from_predict(
    mlserver: str, income_pipeline, reference: pd.DataFrame
) -> None:
    sample = reference[paths.FEATURES].head(20)
    settings = ModelSettings(
        url=mlserver,
        protocol="v2",
        output="labels",
        v2={"input_layout": "columnar", "output_name": "predict"},
    )
    with RemoteModel(settings, paths.FEATURES) as model:
        labels = model.predict(sample.values.tolist())
    assert labels.tolist() == income_pipeline.predict(sample).tolist()


def test_mlserver_refusal_is_reported_with_its_message(mlserver: str) -> None:
    """A single [n, 12] tensor is not something MLServer's sklearn runtime can score."""
    settings = ModelSettings(url=mlserver, protocol="v2", retries=0)
    with RemoteModel(settings, paths.FEATURES) as model, pytest.raises(ModelResponseError) as info:
        model.predict([[39, "Private", "Bachelors", 13, "Never-married", "Adm-clerical",
                        "Not-in-family", "White", "Male", 2174, 0, 40]])  # fmt: skip
    assert info.value.status == 500
    assert mlserver in str(info.value) and "HTTP" in str(info.value)
