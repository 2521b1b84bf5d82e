"""``POST /batches`` and ``GET /batches/{id}`` with a stand-in for Ray
(``fake_workers.batch_at_once``); a batch on a real Ray is in tests/integration/test_batch.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.batch import extra
from explainers.wire import native
from tests.helpers.inprocess import fake_app, served
from tests.helpers.web import HTTP


@pytest.fixture(scope="module")
def base(income_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(fake_app(tmp_path_factory.mktemp("batches"))) as url:
        yield url


def record(i: int) -> dict:
    import pandas as pd

    row = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[i]
    return {k: native(v) for k, v in row.items()}


def finished(base: str, location: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = HTTP.get(base + location, timeout=10).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise TimeoutError(body)


def test_accepted_then_done_with_one_result_per_row(base: str) -> None:
    rows = [record(0), {"instances": [record(1), record(2)]}, {"instances": "no"}]
    answer = HTTP.post(f"{base}/batches", json={"method": "shap", "rows": rows}, timeout=30)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] in ("queued", "running", "done") and accepted["rows"] == 4
    assert answer.headers["location"] == f"/batches/{accepted['id']}"
    body = finished(base, answer.headers["location"])
    assert body["status"] == "done" and body["finished"] == 4
    assert body["counts"] == {"stored": 0, "computed": 3, "failed": 1}
    results = body["results"]
    assert [(r["row"], r["instance"]) for r in results] == [(0, 0), (1, 0), (1, 1), (2, 0)]
    assert results[0]["url"] == "/explanations/fake-0?format=html"
    assert results[0]["label"] == "<=50K" and results[0]["probability"] == 0.77
    assert results[3]["code"] == "invalid_payload" and results[3]["id"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "shap", "rows": []}, "rows"),
        ({"method": "nope", "rows": [{}]}, "method"),
        ({"method": "shap", "rows": [{}], "parameters": {"nsamples": -1}}, "nsamples"),
    ],
)
def test_a_wrong_batch_is_refused_before_it_runs(base: str, body: dict, field: str) -> None:
    answer = HTTP.post(f"{base}/batches", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_an_unknown_batch_is_404(base: str) -> None:
    answer = HTTP.get(f"{base}/batches/batch-nope", timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_without_the_batch_extra_a_batch_is_refused_naming_it(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``[server]`` install has no Ray: 501 and the extra to install, no job."""
    monkeypatch.setattr(extra, "find_spec", lambda name: None if name == "ray" else find_spec(name))
    answer = HTTP.post(f"{base}/batches", json={"rows": [record(0)]}, timeout=30)
    assert answer.status_code == 501, answer.text
    error = answer.json()["error"]
    assert error["code"] == "extra_missing"
    assert error["detail"] == {"extra": "batch", "missing": "ray"}
    assert "pip install 'explainer-service[batch]'" in error["message"]
