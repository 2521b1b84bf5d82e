"""``explainer-service batch`` on a local Ray of 2 CPUs, against the example model server.

One Ray session for the module (starting Ray takes seconds). The batch of 20 logged V2
payloads runs once (``first``); the tests read what it did: every row explained once, a
second run that asks the model nothing, the service's own explanations of the same rows
equal to the batch's and shared with it through the store, and rows whose model calls
fail recorded one by one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from examples.income import paths
from explainer_service.cli.commands import app
from explainer_service.store import SqliteStore, Status
from explainers.wire import native
from tests.helpers.postgres import Cluster
from tests.helpers.support import explainer_service, free_port, python_server, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

ROWS = 20
#: a capital gain no reference row has: the poison proxy fails every request carrying it
POISON = 12345
POISONED = (3, 7, 11)
SHAP = {"nsamples": 100, "background_size": 20}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        yield
    finally:
        ray.shutdown()


def v2_payload(row: list) -> dict:
    """A logged Open Inference Protocol request of one row, as a client sends it."""
    return {
        "inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "BYTES", "data": row}]
    }


def holdout_rows(count: int) -> list[list]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].head(count)
    return [[native(v) for v in row] for row in frame.values]


def write_jsonl(path: Path, rows: list[list]) -> Path:
    path.write_text("".join(json.dumps(v2_payload(row)) + "\n" for row in rows))
    return path


def config(model_url: str, store: Path | str, **service) -> dict:
    return {
        "model": {"name": "income", "url": model_url, "class_names": paths.CLASS_NAMES},
        "data": {"reference": str(paths.REFERENCE), "target": paths.TARGET},
        "explainers": {"shap": SHAP},
        # a row's deadline counts from when it is handed to Ray: generous, for a busy machine
        "service": {"store": str(store), "budget": {"max_seconds": 600}, **service},
        "batch": {"max_in_flight": 2},
    }


def run_batch(directory: Path, settings: dict, source: Path, name: str) -> pd.DataFrame:
    """The command, in this process (so it uses the module's Ray); the table it wrote."""
    import yaml

    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    output = directory / f"{name}.parquet"
    result = CliRunner().invoke(
        app,
        ["batch", "--config", str(path), "--input", str(source), "--output", str(output),
         "--method", "shap", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return pd.read_parquet(output)


def stats(income_server: str) -> dict:
    return HTTP.get(f"{income_server}/stats", timeout=10).json()


@dataclass
class First:
    directory: Path
    settings: dict
    source: Path
    store: Path
    table: pd.DataFrame
    before: dict
    after: dict


@pytest.fixture(scope="module")
def first(ray_session, income_server: str, tmp_path_factory) -> First:
    directory = tmp_path_factory.mktemp("batch")
    source = write_jsonl(directory / "logged.jsonl", holdout_rows(ROWS))
    store = directory / "batch.sqlite"
    settings = config(f"{income_server}/v2/models/income/infer", store)
    before = stats(income_server)
    table = run_batch(directory, settings, source, "first")
    return First(directory, settings, source, store, table, before, stats(income_server))


def test_every_row_explained_once(first: First) -> None:
    table = first.table
    assert sorted(table["row"].unique()) == list(range(ROWS))
    assert table["error"].isna().all(), table["error"].dropna().head()
    assert set(table["source"]) == {"computed"}
    per_row = table.groupby("row")
    assert (per_row.size() == len(paths.FEATURES)).all()  # one line per feature
    assert (per_row["id"].nunique() == 1).all()
    assert table["url"].str.fullmatch(r"/explanations/[\w-]+\?format=html").all()
    # each row's SHAP values add up to its prediction, as the engine computes them
    for _, lines in per_row:
        total = lines["base_value"].iloc[0] + lines["contribution"].sum()
        assert total == pytest.approx(lines["probability"].iloc[0], abs=1e-6)
    store = SqliteStore(first.store)
    try:
        records = [store.get(id) for id in table["id"].unique()]
    finally:
        store.close()
    assert len(records) == ROWS  # the holdout rows are distinct instances
    assert all(r is not None and r.status is Status.done and r.attempts == 1 for r in records)


def test_the_workers_are_two_and_the_model_saw_them(first: First) -> None:
    headers = first.after["headers"]
    workers = {k.split(": ")[1] for k in headers if k.startswith("x-explainer-worker")}
    assert workers == {"batch-0", "batch-1"}
    assert first.after["requests"] > first.before["requests"]
    assert any(k.startswith("x-request-id: batch-") for k in headers)


def test_a_second_run_computes_nothing(first: First, income_server: str) -> None:
    again = run_batch(first.directory, first.settings, first.source, "again")
    assert set(again["source"]) == {"stored"}
    assert list(again["id"]) == list(first.table["id"])
    assert stats(income_server)["requests"] == first.after["requests"]


def test_the_service_explains_as_the_batch_and_shares_its_store(
    first: First, income_server: str, postgres: Cluster, output_dir: Path
) -> None:
    """The service, on a store of its own (a PostgreSQL database), computes the same
    explanations for the same rows and seed; a batch on the service's store then computes
    none of them again."""
    store = postgres.url(postgres.create_database())
    settings = config(
        f"{income_server}/v2/models/income/infer",
        store,
        workers=1,
        store_password_file=str(postgres.password_file),
    )
    service, base = explainer_service(settings, first.directory, output_dir / "batch-service.log")
    rows = holdout_rows(5)
    try:
        wait_until_ready(base)
        answers = []
        for row in rows:
            response = HTTP.post(f"{base}/explain?method=shap", json=v2_payload(row), timeout=300)
            assert response.status_code == 200, response.text
            answers.append(response.json())
    finally:
        service.stop()
    batch = SqliteStore(first.store)
    try:
        for i, answer in enumerate(answers):
            id = first.table.loc[first.table["row"] == i, "id"].iloc[0]
            record = batch.get(id)
            assert record is not None and record.explanation is not None
            ours = record.explanation.model_dump(mode="json")
            assert ours["result"] == answer["result"]
            assert ours["prediction"] == answer["prediction"]
            assert ours["instance"] == answer["instance"]
    finally:
        batch.close()
    before = stats(income_server)["requests"]
    shared = run_batch(
        first.directory, settings, write_jsonl(first.directory / "five.jsonl", rows), "shared"
    )
    assert set(shared["source"]) == {"stored"}
    assert list(shared.groupby("row")["id"].first()) == [a["id"] for a in answers]
    assert stats(income_server)["requests"] == before


@pytest.fixture(scope="module")
def poison_proxy(income_server: str, output_dir: Path) -> Iterator[str]:
    port = free_port()
    proxy = python_server(
        "tests.helpers.servers.poison_proxy", port, "--upstream", income_server,
        "--poison", str(POISON), log=output_dir / "poison-proxy.log",
    ).wait_ready()  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.stop()


def test_a_model_fault_is_recorded_per_row(ray_session, poison_proxy: str, tmp_path: Path) -> None:
    rows = holdout_rows(20)
    capital_gain = paths.FEATURES.index("capital-gain")
    for i in POISONED:
        rows[i][capital_gain] = POISON
    source = write_jsonl(tmp_path / "faulty.jsonl", rows)
    settings = config(f"{poison_proxy}/v2/models/income/infer", tmp_path / "faults.sqlite")
    table = run_batch(tmp_path, settings, source, "faults")
    failed = table[table["source"] == "failed"]
    assert sorted(failed["row"]) == list(POISONED)  # one line each
    assert set(failed["code"]) == {"model_error"}
    assert failed["error"].str.contains("500").all()
    assert failed["id"].notna().all()
    done = table[table["source"] == "computed"]
    assert sorted(done["row"].unique()) == [i for i in range(20) if i not in POISONED]
    assert HTTP.get(f"{poison_proxy}/requests", timeout=10).json()["refused"] >= len(POISONED)
    store = SqliteStore(tmp_path / "faults.sqlite")
    try:
        for id in failed["id"]:
            record = store.get(id)
            assert record is not None and record.status is Status.failed
            assert record.error is not None and record.error["code"] == "model_error"
    finally:
        store.close()


def test_unreadable_lines_are_recorded_and_the_rest_explained(
    ray_session, income_server: str, tmp_path: Path
) -> None:
    row = holdout_rows(1)[0]
    wrong = list(row)
    wrong[paths.FEATURES.index("workclass")] = "Astronaut"
    lines = [
        json.dumps(v2_payload(row)),
        "{not json",
        json.dumps(v2_payload(wrong)),
        json.dumps(dict(zip(paths.FEATURES, row, strict=True))),  # a record: the same row
    ]
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n")
    settings = config(f"{income_server}/v2/models/income/infer", tmp_path / "mixed.sqlite")
    table = run_batch(tmp_path, settings, source, "mixed")
    by_row = table.groupby("row").first()
    assert list(by_row["source"]) == ["computed", "failed", "failed", "computed"]
    assert list(by_row["code"].iloc[1:3]) == ["malformed_json", "unknown_category"]
    assert by_row["id"].iloc[0] == by_row["id"].iloc[3]  # one instance, one explanation


def test_the_same_through_the_api(
    ray_session, income_server: str, tmp_path: Path, output_dir: Path
) -> None:
    """``POST /batches`` on a real service, whose batch runs on a Ray of its own."""
    rows = holdout_rows(10)
    settings = config(f"{income_server}/v2/models/income/infer", tmp_path / "api.sqlite")
    settings["service"]["workers"] = 1
    service, base = explainer_service(settings, tmp_path, output_dir / "batch-api.log")
    try:
        wait_until_ready(base)
        body = {"method": "shap", "rows": [v2_payload(row) for row in rows]}
        outcomes = []
        for _ in range(2):  # the second time, every row is in the store
            answer = HTTP.post(f"{base}/batches", json=body, timeout=60)
            assert answer.status_code == 202, answer.text
            outcomes.append(finished_batch(base, answer.headers["location"]))
        first, again = outcomes
        assert first["status"] == "done", first
        assert first["counts"] == {"stored": 0, "computed": len(rows), "failed": 0}
        assert again["counts"] == {"stored": len(rows), "computed": 0, "failed": 0}
        ids = [r["id"] for r in first["results"]]
        assert [r["id"] for r in again["results"]] == ids
        for result in first["results"]:
            stored = HTTP.get(f"{base}/explanations/{result['id']}", timeout=10).json()
            assert stored["method"] == "shap" and stored["prediction"]["label"] == result["label"]
            assert result["url"] == f"/explanations/{result['id']}?format=html"
    finally:
        service.stop()


def finished_batch(base: str, location: str, timeout: float = 600) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = HTTP.get(base + location, timeout=10).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.5)
    raise TimeoutError(body)


@pytest.fixture(scope="module")
def slow_model(output_dir: Path) -> Iterator[str]:
    """A model that answers every request after 5 s (``fault_server``'s ``/sleep``)."""
    port = free_port()
    server = python_server(
        "tests.helpers.servers.fault_server",
        port,
        "--sleep",
        "5",
        log=output_dir / "slow-model.log",
    ).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_a_row_past_its_deadline_is_stopped_and_recorded(
    ray_session, slow_model: str, tmp_path: Path
) -> None:
    """Its worker is killed (Ray starts it again) and the row is reported as the service
    reports it; the batch ends."""
    settings = config(f"{slow_model}/sleep", tmp_path / "slow.sqlite")
    settings["model"] |= {"protocol": "kserve-v1", "timeout_s": 30, "retries": 0}
    settings["features"] = {"source": "reference"}
    settings["service"]["budget"] = {"max_seconds": 1}
    source = tmp_path / "slow.jsonl"  # records: any protocol takes them
    records = [dict(zip(paths.FEATURES, row, strict=True)) for row in holdout_rows(2)]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    table = run_batch(tmp_path, settings, source, "slow")
    assert list(table["source"]) == ["failed", "failed"]
    assert set(table["code"]) == {"deadline_exceeded"}
    assert table["error"].str.contains("within 1 s").all()
