"""features.names: reference data with an id and a timestamp column still serves the model
the inputs it reads (without it, the model refuses every call and readiness never comes)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from examples.income import paths
from tests.support import explainer_service, wait_until_ready

pytestmark = pytest.mark.integration


def test_extra_reference_columns_are_ignored(
    income_server: str, tmp_path: Path, output_dir: Path
) -> None:
    reference = pd.read_csv(paths.REFERENCE)
    reference.insert(0, "applicant_id", range(len(reference)))
    reference["received_at"] = "2026-01-01T00:00:00"
    reference.to_csv(tmp_path / "reference.csv", index=False)
    config = {
        "model": {
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(tmp_path / "reference.csv"), "target": "loan"},
        "service": {"store": ":memory:", "workers": 1},
        "explainers": {"shap": {"nsamples": 200}},
    }
    log = output_dir / "service-features.log"
    env = {"EXPLAINER_FEATURES__NAMES": ",".join(paths.FEATURES)}  # as a manifest would set it
    process, base = explainer_service(config, tmp_path, log, env=env)
    try:
        wait_until_ready(base)
        record = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[0].to_dict()
        record = {k: v.item() if hasattr(v, "item") else v for k, v in record.items()}
        body = {"instances": [record]}
        answer = httpx.post(f"{base}/explain?method=shap", json=body, timeout=300)
        assert answer.status_code == 200, answer.text
        explained = {c["feature"] for c in answer.json()["result"]["contributions"]}
        assert explained == set(paths.FEATURES)
    finally:
        process.stop()
    text = log.read_text()
    assert "not in features.names, ignored: applicant_id, received_at" in text, text[-3000:]
    assert text.count("ignored: applicant_id") == 1  # the service says it once, not each worker
