"""The batch's input rows and its output table, without Ray or a model (the runs on Ray are
in tests/integration/test_batch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.batch import InputError, Item, Outcome, Report, read_items
from explainer_service.batch.output import tidy, write
from explainer_service.runtime import Runtime
from explainer_service.settings import load_settings
from explainer_service.store import cache_key
from explainers.wire import native
from tests.helpers.render_factories import anchors, income_words, shap
from tests.helpers.support import free_port


@pytest.fixture(scope="module")
def runtime(income_files):
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


def holdout(count: int) -> pd.DataFrame:
    return pd.read_csv(paths.HOLDOUT).head(count)


def test_jsonl_payloads_records_and_bad_lines(runtime: Runtime, tmp_path: Path) -> None:
    v2 = json.loads((paths.PAYLOADS / "v2.json").read_text())  # two rows
    record = {k: native(v) for k, v in holdout(1)[paths.FEATURES].iloc[0].items()}
    wrong = {**record, "workclass": "Astronaut"}
    source = tmp_path / "logged.jsonl"
    lines = [json.dumps(v2), "", json.dumps(record), "{oops", json.dumps(wrong), "[]"]
    source.write_text("\n".join(lines) + "\n")
    items = read_items(source, runtime)
    assert [(i.row, i.instance) for i in items] == [(0, 0), (0, 1), (2, 0), (3, 0), (4, 0), (5, 0)]
    assert items[0].values == runtime.rows(v2)[0] and items[1].values == runtime.rows(v2)[1]
    assert items[2].values == [record[f] for f in paths.FEATURES]
    codes = [i.error and i.error["code"] for i in items]
    assert codes == [None, None, None, "malformed_json", "unknown_category", "invalid_payload"]
    assert items[4].error is not None and items[4].error["status"] == 422


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_are_feature_rows(runtime: Runtime, tmp_path: Path, suffix: str) -> None:
    frame = holdout(3)  # with the target column, which is no feature
    source = tmp_path / f"rows{suffix}"
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)
    items = read_items(source, runtime)
    assert [i.row for i in items] == [0, 1, 2]
    assert all(i.error is None for i in items)
    assert items[1].values == frame[paths.FEATURES].iloc[1].tolist()


def test_a_file_it_cannot_read_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected one of"):
        read_items(tmp_path / "rows.xlsx", runtime)
    with pytest.raises(InputError, match="no such file"):
        read_items(tmp_path / "missing.jsonl", runtime)
    holdout(2).drop(columns=["age"]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="age"):
        read_items(tmp_path / "short.csv", runtime)


def test_the_cache_key_is_the_services(runtime: Runtime) -> None:
    """The key ignores how a row was written (39.0 or 39) and changes with the seed."""
    row = runtime.rows(json.loads((paths.PAYLOADS / "v2.json").read_text()))[0]
    params = runtime.resolve_params("shap", None).model_dump(mode="json")
    floats = [float(v) if isinstance(v, int) else v for v in row]
    assert runtime.cache_key("shap", params, row) == runtime.cache_key("shap", params, floats)
    assert runtime.cache_key("shap", params, row) != runtime.cache_key(
        "shap", {**params, "seed": 1}, row
    )
    assert runtime.cache_key("shap", params, row) != cache_key({"instance": row})


def report() -> Report:
    items = [Item(0, 0, [1]), Item(1, 0, [2]), Item(2, 0, None, {"code": "malformed_json"})]
    outcomes = [
        Outcome("id-a", "computed", shap()),
        Outcome("id-b", "stored", anchors(0.2)),
        Outcome(None, "failed", error={"code": "malformed_json", "message": "not JSON"}),
    ]
    return Report("batch-x", items, outcomes)


def test_tidy_has_a_line_per_feature_or_condition_with_id_and_link() -> None:
    table = tidy(report(), income_words(), lambda path: "https://x.example" + path)
    shap_lines = table[table["row"] == 0]
    assert list(shap_lines["feature"]) == ["age", "marital-status", "hours-per-week", "gender"]
    assert list(shap_lines["contribution"]) == [0.031, -0.0004, 0.05, -0.06]
    assert (shap_lines["base_value"] == 0.24).all() and (shap_lines["label"] == "<=50K").all()
    assert (shap_lines["probability"] == 0.77).all()
    assert set(shap_lines["url"]) == {"https://x.example/explanations/id-a?format=html"}
    anchor_lines = table[table["row"] == 1]
    assert list(anchor_lines["feature"]) == ["age"] and (anchor_lines["coverage"] == 0.2).all()
    assert list(anchor_lines["source"]) == ["stored"]
    failed = table[table["row"] == 2]
    assert len(failed) == 1 and failed["code"].iloc[0] == "malformed_json"
    assert failed["id"].isna().all() and failed["error"].iloc[0] == "not JSON"
    assert list(table.columns[:6]) == ["row", "instance", "id", "source", "label", "probability"]
    assert list(table.columns[-3:]) == ["url", "error", "code"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_written_and_read_back(tmp_path: Path, suffix: str) -> None:
    """Parquet takes a column of numbers and text (the instance's values) as text."""
    table = tidy(report(), income_words(), lambda path: path)
    path = tmp_path / f"results{suffix}"
    write(table, path)
    back = {
        ".parquet": pd.read_parquet,
        ".csv": pd.read_csv,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }[suffix](path)
    assert len(back) == len(table) and list(back.columns) == list(table.columns)
    assert list(back["row"]) == list(table["row"])
    assert back["value"].astype(str).tolist()[:2] == ["39", "Never-married"]
    with pytest.raises(InputError, match="must end in"):
        write(table, tmp_path / "results.xlsx")


def test_batches_waiting_are_bounded_and_only_finished_ones_are_forgotten(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch runs (held here), ``batch.max_queued`` wait; the next is a 429. With
    ``KEPT`` batches or more, the oldest finished ones are forgotten, never a waiting one."""
    import threading

    from explainer_service.batch import jobs
    from explainer_service.errors import QueueFullError, http_error
    from explainer_service.store import SqliteStore
    from tests.helpers.fake_workers import batch_at_once

    release, started = threading.Event(), threading.Event()

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(60)
        return batch_at_once(*args, **kwargs)

    monkeypatch.setattr(jobs, "KEPT", 2)
    settings = runtime.settings.model_copy(deep=True)
    settings.batch.max_queued = 2
    row = [holdout(1)[paths.FEATURES].iloc[0].to_dict()]
    store = SqliteStore(":memory:")
    batches = jobs.Batches(settings, runtime, store, held)
    try:
        done = batches.submit("shap", row, {})  # runs and finishes before the others
        release.set()
        until_status(batches, done.id, "done")
        release.clear()
        started.clear()
        running = batches.submit("shap", row, {})
        assert started.wait(60)
        waiting = [batches.submit("shap", row, {}) for _ in range(2)]
        with pytest.raises(QueueFullError) as refused:
            batches.submit("shap", row, {})
        status, body = http_error(refused.value)
        assert status == 429 and "2 batches are waiting to run" in body["error"]["message"]
        with pytest.raises(Exception, match="no batch"):
            batches.get(done.id)  # 4 kept > KEPT: the finished one went
        assert [batches.get(j.id).status for j in waiting] == ["queued", "queued"]
        assert batches.get(running.id).status == "running"
        release.set()
        for job in (running, *waiting):
            until_status(batches, job.id, "done")
    finally:
        release.set()
        batches.close()
        store.close()


def until_status(batches, id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + 60
    while batches.get(id).status != status:
        assert time.monotonic() < deadline, batches.get(id)
        time.sleep(0.02)
