"""Events into the inference log: decoded by the configured codec into a real store, the
two sides joined, the rows of a batch, what is dropped, refused and counted, and the hook
the explanation policy listens on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.income import paths
from explainer_service.errors import PayloadError, RowCountConflictError, TooManyRowsError
from explainer_service.inferences.events import LoggerEvent, parse_event
from explainer_service.inferences.ingest import Ingest
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.service.chores import InferenceRetention
from explainer_service.settings import Settings
from explainer_service.store import Store, open_store
from explainer_service.store.inferences import Inference
from tests.helpers.logger_events import (
    kserve_event,
    message,
    seldon_event,
    v2_request,
    v2_response,
)
from tests.unit.store.conftest import Backend

ROWS = [
    [39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical", "Not-in-family",
     "White", "Male", 2174, 0, 40],
    [50, "Self-emp-not-inc", "Bachelors", 13, "Married-civ-spouse", "Exec-managerial",
     "Husband", "White", "Male", 0, 0, 13],
]  # fmt: skip


def settings_of(**log: Any) -> Settings:
    return Settings(
        model={"url": "http://127.0.0.1:9/v2/models/income/infer", "name": "income",
               "class_names": paths.CLASS_NAMES},
        data={"reference": paths.REFERENCE, "target": "loan"},
        features={"names": paths.FEATURES},
        inference_log=log,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "log.sqlite"))
    yield opened
    opened.close()


@pytest.fixture
def runtime(income_files: Path) -> Iterator[Runtime]:
    built = Runtime(settings_of(metadata=["x-tenant"]))
    yield built
    built.close()


@pytest.fixture
def ingest(runtime: Runtime, store: Store) -> Ingest:
    return Ingest(runtime, store, metrics=Metrics())


def event(made: Any) -> LoggerEvent:
    sent = message(made)
    return parse_event(sent.headers, sent.body, max_bytes=1 << 20, max_depth=32)


def counted(ingest: Ingest, name: str, **labels: str) -> float:
    assert ingest.metrics is not None
    value = ingest.metrics.registry.get_sample_value(f"explainer_inference_{name}_total", labels)
    return value or 0.0


def test_request_then_response_is_one_inference_with_its_answer(ingest, store) -> None:
    meta = {"X-Tenant": ["bank-a"], "Cookie": ["secret"]}
    first = ingest(event(kserve_event("request", v2_request(ROWS[:1]), "a1", metadata=meta)))
    assert (first.outcome, first.ids, first.rows) == ("stored", ["a1"], {"stored": 1})
    second = ingest(event(kserve_event("response", v2_response([[0.3, 0.7]]), "a1")))
    assert (second.outcome, second.rows) == ("joined", {"joined": 1})
    logged = store.inference("a1")
    assert logged.instance == ROWS[0]
    assert logged.answer == {"scores": [0.3, 0.7]}
    assert (logged.label, logged.score) == (">50K", 0.7)
    assert (logged.source, logged.model, logged.component) == ("kserve", "income", "predictor")
    assert logged.protocol == "v2"
    assert logged.metadata == {"X-Tenant": ["bank-a"]}  # only the allowed header
    assert counted(ingest, "events", source="kserve", type="request", outcome="stored") == 1
    assert counted(ingest, "rows", source="kserve", type="response", outcome="joined") == 1


def test_response_first_then_request_and_a_batch_gives_one_id_per_row(ingest, store) -> None:
    scores = [[0.9, 0.1], [0.2, 0.8]]
    assert ingest(event(kserve_event("response", v2_response(scores), "b"))).ids == ["b/0", "b/1"]
    joined = ingest(event(kserve_event("request", v2_request(ROWS), "b")))
    assert joined.outcome == "joined" and joined.rows == {"joined": 2}
    for i in range(2):
        logged = store.inference(f"b/{i}")
        assert logged.complete and logged.instance == ROWS[i]
        assert (logged.row_index, logged.row_count) == (i, 2)
        assert logged.answer == {"scores": scores[i]}
    assert store.inference("b") is None


def test_the_same_event_twice_is_stored_once_and_another_version_is_a_conflict(
    ingest, store
) -> None:
    made = kserve_event("request", v2_request(ROWS[:1]), "d")
    assert ingest(event(made)).outcome == "stored"
    assert ingest(event(made)).outcome == "duplicate"
    other = kserve_event("request", v2_request(ROWS[1:]), "d")
    assert ingest(event(other)).outcome == "conflict"
    assert store.inference("d").instance == ROWS[0]
    assert store.count_inferences() == 1
    assert counted(ingest, "events", source="kserve", type="request", outcome="duplicate") == 1


def test_sides_of_different_row_counts_are_refused_and_nothing_is_kept(ingest, store) -> None:
    ingest(event(kserve_event("request", v2_request(ROWS), "c")))
    with pytest.raises(RowCountConflictError) as refused:
        ingest(event(kserve_event("response", v2_response([[0.5, 0.5]]), "c")))
    assert (refused.value.stored, refused.value.given) == (2, 1)
    ingest(event(kserve_event("request", v2_request(ROWS[:1]), "c1")))
    with pytest.raises(RowCountConflictError):
        ingest(event(kserve_event("response", v2_response([[0.5, 0.5]] * 2), "c1")))
    assert store.inference("c/0").answer is None and store.inference("c1/0") is None
    assert counted(ingest, "events", source="kserve", type="response", outcome="refused") == 2


def test_explainer_transformer_other_models_feedback_and_own_calls_are_dropped_and_counted(
    ingest, store
) -> None:
    body = v2_request(ROWS[:1])
    cases = [
        (kserve_event("request", body, "x1", component="explainer"), "dropped_component"),
        (kserve_event("request", body, "x2", component="transformer"), "dropped_component"),
        (kserve_event("request", body, "x3", model="fraud"), "dropped_model"),
        (seldon_event("request", body, "x4", model_id="other", deployment="x"), "dropped_model"),
        (seldon_event("feedback", {"reward": 1}, "x5"), "dropped_feedback"),
        (
            kserve_event("request", body, "x6", metadata={"Seldon-Skip-Logging": ["true"]}),
            "dropped_synthetic",
        ),
    ]
    for made, outcome in cases:
        done = ingest(event(made))
        assert (done.outcome, done.ids, done.kept) == (outcome, [], False)
    assert store.count_inferences() == 0
    labels = {"source": "kserve", "type": "request", "outcome": "dropped_component"}
    assert counted(ingest, "events", **labels) == 2


def test_a_seldon_event_is_kept_under_its_deployment_name_when_that_is_configured(
    income_files, store
) -> None:
    runtime = Runtime(settings_of(models=["income-sdep"]))
    try:
        done = Ingest(runtime, store)(event(seldon_event("request", v2_request(ROWS[:1]), "p")))
    finally:
        runtime.close()
    assert (done.outcome, done.model) == ("stored", "income-sdep")
    assert store.inference("p").source == "seldon"


def test_bodies_the_codec_cannot_read_and_too_many_rows_are_refused(ingest, store) -> None:
    with pytest.raises(PayloadError) as refused:
        ingest(event(kserve_event("request", {"instances": [[1, 2]]}, "e1")))
    assert refused.value.field == "inputs" and "v2 payload" in refused.value.message
    with pytest.raises(PayloadError, match="probabilities"):
        ingest(event(kserve_event("response", v2_response([[0.1, 0.2, 0.7]]), "e2")))
    with pytest.raises(PayloadError, match="sum to 1"):  # not the model's 502: the logger's
        ingest(event(kserve_event("response", v2_response([[0.5, 0.7]]), "e4")))
    with pytest.raises(TooManyRowsError) as big:
        ingest(event(kserve_event("request", v2_request(ROWS * 51), "e3")))
    assert (big.value.rows, big.value.limit) == (102, 100)
    assert store.count_inferences() == 0


def test_on_logged_hears_each_inference_created_or_completed_once(runtime, store) -> None:
    heard: list[list[Inference]] = []
    ingest = Ingest(runtime, store, on_logged=heard.append)
    ingest(event(kserve_event("request", v2_request(ROWS), "h")))
    ingest(event(kserve_event("request", v2_request(ROWS), "h")))  # a duplicate: nothing new
    ingest(event(kserve_event("response", v2_response([[0.4, 0.6], [0.7, 0.3]]), "h")))
    assert [[i.id for i in batch] for batch in heard] == [["h/0", "h/1"], ["h/0", "h/1"]]
    assert not heard[0][0].complete and heard[1][0].complete
    assert heard[1][1].label == "<=50K"


def test_retention_removes_the_oldest_beyond_max_rows(income_files, store) -> None:
    runtime = Runtime(settings_of())
    try:
        ingest = Ingest(runtime, store)
        for i in range(5):
            ingest(event(kserve_event("request", v2_request(ROWS[:1]), f"r{i}")))
    finally:
        runtime.close()
    chore = InferenceRetention(store, settings_of(max_rows=3).inference_log)
    assert chore.purge() == 2
    assert store.count_inferences() == 3
    assert chore.purge() == 0


def test_a_hook_that_fails_is_logged_and_the_event_stays_kept(runtime, store, caplog) -> None:
    def fails(logged: list[Inference]) -> None:
        raise RuntimeError("the policy is broken")

    done = Ingest(runtime, store, on_logged=fails)(
        event(kserve_event("request", v2_request(ROWS[:1]), "f"))
    )
    assert done.outcome == "stored" and store.inference("f") is not None
    assert "on_logged failed" in caplog.text and "the policy is broken" in caplog.text


def test_a_transformers_events_are_kept_when_its_component_is_listed(income_files, store) -> None:
    runtime = Runtime(settings_of(components=["predictor", "transformer"]))
    try:
        made = kserve_event("request", v2_request(ROWS[:1]), "t", component="transformer")
        done = Ingest(runtime, store)(event(made))
        explainer = kserve_event("request", v2_request(ROWS[:1]), "t2", component="explainer")
        assert Ingest(runtime, store)(event(explainer)).outcome == "dropped_component"
    finally:
        runtime.close()
    assert done.outcome == "stored" and store.inference("t").component == "transformer"


def test_ingest_on_both_stores(runtime: Runtime, backend: Backend) -> None:
    """The same events kept alike in SQLite and in PostgreSQL (a real server)."""
    store = backend.open()
    ingest = Ingest(runtime, store)
    assert ingest(event(kserve_event("response", v2_response([[0.4, 0.6]] * 2), "pg"))).ids == [
        "pg/0",
        "pg/1",
    ]
    assert ingest(event(kserve_event("request", v2_request(ROWS), "pg"))).outcome == "joined"
    assert ingest(event(kserve_event("request", v2_request(ROWS), "pg"))).outcome == "duplicate"
    with pytest.raises(RowCountConflictError):
        ingest(event(kserve_event("request", v2_request(ROWS[:1]), "pg")))
    assert [store.inference(f"pg/{i}").instance for i in range(2)] == ROWS
    assert store.inference("pg/1").label == ">50K" and store.count_inferences() == 2
