"""data.window: the reference rows of the methods that need no labels drawn from the
inferences logged in a window (a SQLite store filled as the sink fills it), checked against
the schema, too few of them refused or replaced by the file's, and named in provenance."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainer_service.batch.worker import BatchWorker
from explainer_service.errors import ConfigError
from explainer_service.runtime import FittedRuntime, Runtime
from explainer_service.runtime.window import read_window
from explainer_service.settings import Settings, TooFewLogged, load_settings, unknown_env_var
from explainer_service.store import open_store
from explainer_service.store.inferences import LoggedSide
from explainers import BlackBox, Explanation
from explainers.base import get_explainer_class, reference_fingerprint
from explainers.explanation import ReferenceSource
from explainers.wire import native

#: rows that do not fit the schema inferred from data.reference: left out and counted
UNFIT = [
    [70, "Private", "HS-grad", 9, "Married-civ-spouse", "Astronaut", "Husband", "White",
     "Male", 0, 0, 40],
    [70, "Private", "HS-grad"],
    ["seventy", "Private", "HS-grad", 9, "Married-civ-spouse", "Sales", "Husband", "White",
     "Male", 0, 0, 40],
]  # fmt: skip


def elderly() -> list[list[Any]]:
    """The reference applicants aged 70 or more: a subset no sample of the file resembles."""
    reference = pd.read_csv(paths.REFERENCE)
    rows = reference[reference["age"] >= 70][paths.FEATURES].values.tolist()
    return [[native(v) for v in row] for row in rows]


def log(store_path: Path, rows: list[list[Any]], prefix: str = "req") -> None:
    store = open_store(str(store_path))
    try:
        # ids sort as the rows were logged (rows of one millisecond go by id)
        for i, row in enumerate(rows):
            store.log_inferences(
                [
                    LoggedSide(
                        id=f"{prefix}-{i:04d}", event_id=f"{prefix}-{i:04d}", row_index=0,
                        row_count=1, side="request", source="kserve", model="income",
                        instance=row,
                    )
                ]
            )  # fmt: skip
    finally:
        store.close()


def configured(tmp_path: Path, **window: Any) -> Settings:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.service.store = str(tmp_path / "store.sqlite")
    settings.explainers = {"shap": {"background_size": 20}, "importance": {"rows": 50}}
    settings.data.window = settings.data.window.model_validate({"days": 30, **window})
    return settings


def without_window(tmp_path: Path) -> Settings:
    settings = configured(tmp_path)
    settings.data.window.days = None
    return settings


def test_the_window_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"model: {{url: 'http://m/v2/models/m/infer'}}\ndata:\n  reference: {paths.REFERENCE}\n"
    config = tmp_path / "c.yaml"
    config.write_text(base)
    default = load_settings(config).data.window
    assert default.days is None and default.min_rows == 100 and default.too_few == "refuse"
    config.write_text(base + "  window: {days: 30, min_rows: 5, max_rows: 50, too_few: file}\n")
    window = load_settings(config).data.window
    assert (window.days, window.min_rows, window.max_rows) == (30, 5, 50)
    assert window.too_few is TooFewLogged.file
    monkeypatch.setenv("EXPLAINER_DATA__WINDOW__DAYS", "7.5")
    assert load_settings(config).data.window.days == 7.5
    monkeypatch.delenv("EXPLAINER_DATA__WINDOW__DAYS")
    assert unknown_env_var("EXPLAINER_DATA__WINDOW__MIN_ROWS") is None
    assert "'day' is not among" in (unknown_env_var("EXPLAINER_DATA__WINDOW__DAY") or "")
    wrongs = (
        ("days: 0", "data.window.days"),
        ("too_few: maybe", "data.window.too_few"),
        ("min_rows: 60, max_rows: 50", "data.window: min_rows (60) is more than"),
    )
    for wrong, key in wrongs:
        config.write_text(base + f"  window: {{{wrong}}}\n")
        with pytest.raises(ConfigError, match=re.escape(key)):
            load_settings(config)


def test_no_window_reads_no_store(income_files, tmp_path: Path) -> None:
    settings = configured(tmp_path)
    settings.data.window.days = None
    settings.service.store = str(tmp_path / "nowhere" / "store.sqlite")  # cannot be opened
    runtime = Runtime(settings)
    try:
        assert runtime.window is None and runtime.logged is None
        assert runtime.reference_of("shap")[1] == ReferenceSource(kind="file", file="reference.csv")
    finally:
        runtime.close()


def test_the_methods_without_labels_draw_from_the_window(income_files, tmp_path: Path) -> None:
    logged = elderly()
    assert 20 < len(logged) < 200
    log(tmp_path / "store.sqlite", [*logged[:10], *UNFIT, *logged[10:]])
    runtime = FittedRuntime(configured(tmp_path, min_rows=20))
    plain = Runtime(without_window(tmp_path))
    try:
        assert runtime.window is not None and runtime.window.logged == len(logged) + 3
        rows, source, target = runtime.reference_of("shap")
        assert rows.values.tolist() == logged and target is None  # oldest first, unfit ones out
        assert source.kind == "logged" and source.logged == len(logged) + 3 and source.dropped == 3
        assert source.since is not None and source.until is not None
        assert 29.9 < (source.until - source.since).total_seconds() / 86400 < 30.1
        # importance needs labels, which logged traffic has not: it keeps the file
        rows, source, target = runtime.reference_of("importance")
        assert len(rows) == 3000 and target == "loan" and source.kind == "file"
        # a window's rows are part of the cache key of the methods fitted on them only
        row = logged[0]
        assert runtime.cache_key("shap", {}, row) != plain.cache_key("shap", {}, row)
        assert runtime.cache_key("importance", {}, None) == plain.cache_key("importance", {}, None)
        runtime.fit()
        shap = runtime.explainers["shap"]
        assert shap.reference_source == runtime.reference_of("shap")[1]
        assert shap.reference_fingerprint == reference_fingerprint(
            pd.DataFrame(logged, columns=paths.FEATURES)
        )
        background = {tuple(r) for r in runtime.schema.to_wire(shap._background)}
        assert len(background) == 20 and background <= {tuple(r) for r in logged}
        assert runtime.explainers["importance"].reference_source.kind == "file"
    finally:
        runtime.close()
        plain.close()


def test_too_few_rows_stop_start_up_or_leave_the_file(income_files, tmp_path: Path) -> None:
    log(tmp_path / "store.sqlite", [*elderly()[:4], *UNFIT])
    with pytest.raises(ConfigError) as info:
        Runtime(configured(tmp_path, min_rows=5))
    message = str(info.value)
    assert "4 rows that fit the schema (7 logged, 3 left out)" in message
    assert "fewer than data.window.min_rows (5)" in message and "too_few: file" in message
    runtime = Runtime(configured(tmp_path, min_rows=5, too_few="file"))
    plain = Runtime(without_window(tmp_path))
    try:
        assert runtime.logged is None
        rows, source, target = runtime.reference_of("shap")
        assert len(rows) == 3000 and target == "loan"
        assert source.kind == "file" and "fewer than data.window.min_rows" in (source.note or "")
        row = elderly()[0]
        assert runtime.cache_key("shap", {}, row) == plain.cache_key("shap", {}, row)
    finally:
        runtime.close()
        plain.close()


def test_every_process_fits_on_the_window_read_once(income_files, tmp_path: Path) -> None:
    """A runtime given the window another read (a worker's) does not read the store: rows
    logged meanwhile change nothing, and its cache keys are the reader's."""
    logged = elderly()
    log(tmp_path / "store.sqlite", logged[:30])
    settings = configured(tmp_path, min_rows=20)
    window = read_window(settings)
    assert window is not None and window.logged == 30
    first = Runtime(settings, window=window)
    log(tmp_path / "store.sqlite", logged[30:], prefix="later")  # traffic meanwhile
    worker = Runtime(settings, window=window, announce=False)
    restarted = Runtime(settings)  # a restart reads the window anew
    try:
        assert worker.logged is not None and first.logged is not None
        assert worker.logged.equals(first.logged)
        assert worker.cache_key("shap", {}, logged[0]) == first.cache_key("shap", {}, logged[0])
        assert restarted.window is not None and restarted.window.logged == len(logged)
        assert restarted.cache_key("shap", {}, logged[0]) != first.cache_key("shap", {}, logged[0])
    finally:
        for runtime in (first, worker, restarted):
            runtime.close()


def test_provenance_names_where_the_reference_rows_came_from(census_schema, reference) -> None:
    source = ReferenceSource(
        kind="logged",
        since="2026-11-06T10:00:00+00:00",  # type: ignore[arg-type]
        until="2026-12-06T10:00:00+00:00",  # type: ignore[arg-type]
        logged=5000,
        dropped=2,
    )

    def predict(rows: list[list[Any]]) -> np.ndarray:
        older = np.array([float(row[0]) > 40 for row in rows])
        return np.column_stack([1 - 0.8 * older, 0.8 * older])

    box = BlackBox(predict, class_names=paths.CLASS_NAMES)
    rows = reference[paths.FEATURES].head(200)
    shap = get_explainer_class("shap")(
        census_schema, rows, box, {"background_size": 10}, reference_source=source
    )
    explanation = shap.explain(rows.iloc[0].tolist(), {"nsamples": 40})
    assert explanation.provenance.reference_source == source
    assert explanation.provenance.reference_rows == 200
    again = Explanation.model_validate_json(explanation.model_dump_json())
    assert again.provenance.reference_source == source
    # an explanation stored before the field existed still reads
    dumped = explanation.model_dump(mode="json")
    del dumped["provenance"]["reference_source"]
    assert Explanation.model_validate(dumped).provenance.reference_source is None


def test_a_batch_worker_fits_on_the_window_its_driver_read(income_files, tmp_path: Path) -> None:
    """A batch's Ray worker (built here in process) gets the driver's window, not the store
    (a node of a cluster may not reach it): rows logged since change nothing."""
    logged = elderly()
    log(tmp_path / "store.sqlite", logged[:30])
    driver = Runtime(configured(tmp_path, min_rows=20))
    log(tmp_path / "store.sqlite", logged[30:], prefix="later")
    worker = BatchWorker(configured(tmp_path, min_rows=20), driver.reference, "b", driver.window)
    try:
        assert driver.logged is not None and len(driver.logged) == 30
        assert worker.runtime.logged is not None and worker.runtime.logged.equals(driver.logged)
        shap = worker.runtime.explainers["shap"]
        assert shap.reference_fingerprint == driver.logged_fingerprint
    finally:
        driver.close()
        worker.runtime.close()


def test_start_up_says_how_the_window_differs_from_the_file(
    income_files, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reference = pd.read_csv(paths.REFERENCE)
    schooled = reference[reference["education-num"] >= 15][paths.FEATURES]
    log(tmp_path / "store.sqlite", [[native(v) for v in row] for row in schooled.values.tolist()])
    with caplog.at_level(logging.INFO, logger="explainer_service.runtime.window"):
        Runtime(configured(tmp_path, min_rows=20)).close()
        Runtime(configured(tmp_path, min_rows=20), announce=False).close()  # a worker's
    said = [r.getMessage() for r in caplog.records if "differ most" in r.getMessage()]
    assert len(said) == 1, caplog.text
    # every schooled applicant is above the file's top decile of schooling (its share at or
    # below it: 0 against about 0.9), and a Doctorate or at Prof-school
    assert said[0].startswith(
        "data.window: the logged rows' shares differ most from data.reference's in "
    )
    named = said[0].split(" in ", 1)[1]
    assert "education-num (0.9" in named and "education (0." in named, named


def test_the_services_own_logged_calls_are_no_reference_rows(income_files, tmp_path: Path) -> None:
    """A row logged with Seldon-Skip-Logging in its metadata is the service's own call (an
    explanation's samples, the readiness check), which KServe's logger logs all the same."""
    logged = elderly()
    log(tmp_path / "store.sqlite", logged[:25])
    store = open_store(str(tmp_path / "store.sqlite"))
    try:
        for i in range(5):
            own = LoggedSide(
                id=f"own-{i}", event_id=f"own-{i}", row_index=0, row_count=1, side="request",
                source="kserve", model="income", instance=logged[0],
                metadata={"Seldon-Skip-Logging": ["true"]},
            )  # fmt: skip
            store.log_inferences([own])
    finally:
        store.close()
    window = read_window(configured(tmp_path, min_rows=20))
    assert window is not None and window.logged == 25 and window.rows == logged[:25]
