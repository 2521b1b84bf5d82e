"""Reference rows from production: a service whose store holds logged inferences (the
applicants with a professional degree or a doctorate, written before it starts) and whose
``data.window`` is set explains with SHAP against a background of exactly those rows: the
base value is the real model's mean answer over them, and the provenance names the window.
Anchors and counterfactuals draw from the same rows; importance keeps the file's labelled
rows; a batch on Ray fits on the same window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from examples.income import paths
from explainer_service.cli.commands import app
from explainer_service.model_client import RemoteModel
from explainer_service.settings import ModelSettings
from explainer_service.store import open_store
from explainer_service.store.inferences import LoggedSide
from explainers.base import reference_fingerprint
from explainers.wire import native
from tests.helpers.browser import element_text
from tests.helpers.support import explainer_service, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

SHAP = {"nsamples": 200, "background_size": 500}


def schooled() -> list[list[Any]]:
    """The reference applicants with 15 years of education or more: a subset whose mean
    answer is far from the whole reference data's."""
    reference = pd.read_csv(paths.REFERENCE)
    rows = reference[reference["education-num"] >= 15][paths.FEATURES].values.tolist()
    return [[native(v) for v in row] for row in rows]


@dataclass
class Served:
    """What the service did: its configuration and log, the rows logged before it started,
    the applicant it explained, and its answers by method."""

    config: dict[str, Any]
    directory: Path
    log: Path
    logged: list[list[Any]]
    applicant: list[Any]
    answers: dict[str, httpx.Response]
    #: the SHAP explanation's page
    page: httpx.Response


def payload(row: list[Any]) -> dict[str, Any]:
    return {"instances": [dict(zip(paths.FEATURES, row, strict=True))]}


def holdout(index: int) -> list[Any]:
    return [native(v) for v in pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[index]]


@pytest.fixture(scope="module")
def served(income_server: str, tmp_path_factory, output_dir: Path) -> Served:
    tmp_path = tmp_path_factory.mktemp("logged-reference")
    logged = schooled()
    store_path = tmp_path / "store.sqlite"
    store = open_store(str(store_path))
    try:
        # ids sort as the rows were logged (rows of one millisecond go by id)
        for i, row in enumerate(logged):
            side = LoggedSide(
                id=f"kserve-{i:04d}", event_id=f"kserve-{i:04d}", row_index=0, row_count=1,
                side="request", source="kserve", model="income", instance=row, protocol="v2",
            )  # fmt: skip
            store.log_inferences([side])
    finally:
        store.close()
    url = f"{income_server}/v2/models/income/infer"
    config = {
        "model": {"name": "income", "url": url, "class_names": paths.CLASS_NAMES},
        "data": {
            "reference": str(paths.REFERENCE),
            "target": "loan",
            "window": {"days": 30, "min_rows": 20},
        },
        # a row on Ray may take 600 s, not the default 120 s (a busy machine: as test_batch)
        "service": {"store": str(store_path), "workers": 2, "budget": {"max_seconds": 600}},
        "explainers": {
            # every logged row is in the background (background_size above their number)
            "shap": SHAP,
            "anchors": {},
            "counterfactual": {"total": 2},
            "importance": {"rows": 200, "iterations": 1},
        },
    }
    log = output_dir / "service-logged-reference.log"
    process, base = explainer_service(config, tmp_path, log, log_level="info")
    applicant = holdout(0)
    try:
        wait_until_ready(base)
        answers = {
            method: HTTP.post(
                f"{base}/explain?method={method}", json=payload(applicant), timeout=300
            )
            for method in ("shap", "anchors", "counterfactual", "importance")
        }
        page = HTTP.get(base + answers["shap"].json()["links"]["html"], timeout=60)
    finally:
        process.stop()
    return Served(config, tmp_path, log, logged, applicant, answers, page)


def test_shap_background_from_the_logged_window(served: Served) -> None:
    answers, logged, url = served.answers, served.logged, served.config["model"]["url"]
    for method, answer in answers.items():
        assert answer.status_code == 200, (method, answer.text)
    explanation = answers["shap"].json()
    frame = pd.DataFrame(logged, columns=paths.FEATURES)
    for method in ("anchors", "counterfactual"):
        other = answers[method].json()["provenance"]
        assert other["reference_source"] == explanation["provenance"]["reference_source"]
        assert other["reference_fingerprint"] == reference_fingerprint(frame)
    # the anchor's coverage is a share of the logged rows
    coverage = answers["anchors"].json()["result"]["coverage"] * len(logged)
    assert coverage == pytest.approx(round(coverage), abs=1e-6)
    importance = answers["importance"].json()["provenance"]
    assert importance["reference_source"]["kind"] == "file"
    assert importance["reference_source"]["file"] == "reference.csv"
    assert importance["reference_rows"] == len(pd.read_csv(paths.REFERENCE))

    provenance = explanation["provenance"]
    source = provenance["reference_source"]
    assert source["kind"] == "logged" and source["logged"] == len(logged), source
    assert source["dropped"] == 0 and source["since"] < source["until"]
    assert provenance["reference_rows"] == len(logged)
    assert provenance["reference_fingerprint"] == reference_fingerprint(frame)
    assert explanation["fidelity"]["background_rows"] == len(logged)
    # the base value is the model's mean answer over the background: over the logged rows
    scores = model_scores(url, frame)
    column = paths.CLASS_NAMES.index(explanation["result"]["output"])
    base_value = explanation["result"]["base_value"]
    assert base_value == pytest.approx(float(scores[:, column].mean()), abs=1e-9)
    everyone = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    assert abs(base_value - float(model_scores(url, everyone)[:, column].mean())) > 0.1
    assert served.page.status_code == 200
    said = element_text(served.page.text, "reference-source")
    assert said.startswith(f"{len(logged)} inferences logged from "), said
    text = served.log.read_text()
    assert text.count(f"reference rows: {len(logged)} of the inferences logged from") == 1, text[
        -3000:
    ]


def model_scores(url: str, frame: pd.DataFrame) -> np.ndarray:
    """The real model's probabilities for the rows of ``frame``."""
    model = RemoteModel(ModelSettings(url=url, class_names=paths.CLASS_NAMES), paths.FEATURES)
    try:
        rows = [[native(v) for v in row] for row in frame.values.tolist()]
        return np.asarray(model.predict(rows))
    finally:
        model.close()


def test_a_batch_on_ray_fits_on_the_same_window(served: Served) -> None:
    """``explainer-service batch`` on the service's store reads the same window (nothing was
    logged since), so the applicant the service explained has the same cache key and is not
    computed again; another one is computed by a Ray worker on the same logged rows (that
    the worker is handed the driver's window rather than reading the store is
    tests/unit/runtime/test_window.py's)."""
    ray = pytest.importorskip("ray")
    import yaml

    other = holdout(1)
    source = served.directory / "batch.jsonl"
    source.write_text("".join(json.dumps(payload(row)) + "\n" for row in (served.applicant, other)))
    config = {**served.config, "batch": {"max_in_flight": 1}}
    path = served.directory / "batch.yaml"
    path.write_text(yaml.safe_dump(config))
    output = served.directory / "batch.parquet"
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        result = CliRunner().invoke(
            app,
            ["batch", "--config", str(path), "--input", str(source), "--output", str(output),
             "--method", "shap", "--no-progress"],
        )  # fmt: skip
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(output).groupby("row").first()
    assert list(table["source"]) == ["stored", "computed"]
    assert table["id"].iloc[0] == served.answers["shap"].json()["id"]
    store = open_store(served.config["service"]["store"])
    try:
        record = store.get(table["id"].iloc[1])
    finally:
        store.close()
    assert record is not None and record.explanation is not None
    provenance = record.explanation.provenance
    assert provenance.reference_source is not None
    assert provenance.reference_source.kind == "logged"
    frame = pd.DataFrame(served.logged, columns=paths.FEATURES)
    assert provenance.reference_fingerprint == reference_fingerprint(frame)
    assert record.explanation.fidelity.background_rows == len(served.logged)  # type: ignore[union-attr]
