"""Group fairness over the inference log (``inferences.parity``), on both store backends:
the figures of a window equal the ones counted here by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainer_service.errors import PayloadError
from explainer_service.inferences.parity import group_rates, parity, window_days
from explainer_service.runtime import Runtime
from explainer_service.settings import Settings, load_settings
from explainer_service.store import Store
from explainer_service.store.inferences import LoggedSide
from explainer_service.store.record import stamp
from explainers import BlackBox, OutputKind
from explainers.explanation import Cost, Explanation, ImportanceResult, Prediction, Provenance
from explainers.wire import native
from tests.helpers.servers.gendered_model import gender_decides, gendered
from tests.helpers.support import free_port
from tests.unit.store.conftest import Backend


@pytest.mark.parametrize(
    ("window", "days"), [("7d", 7.0), ("12h", 0.5), ("30m", 30 / 1440), ("1.5d", 1.5)]
)
def test_a_window_is_a_number_and_a_unit(window: str, days: float) -> None:
    assert window_days(window, 366) == pytest.approx(days)


@pytest.mark.parametrize("window", ["7", "7 days", "0d", "367d", "-1d", "d", "7w"])
def test_another_window_is_refused_naming_it(window: str) -> None:
    with pytest.raises(PayloadError) as caught:
        window_days(window, 366)
    assert caught.value.field == "window"


def test_group_rates_against_the_highest() -> None:
    values = ["a"] * 4 + ["b"] * 5 + ["c"] * 2
    positive = [True, True, True, False, True, False, False, False, False, False, False]
    groups, reference = group_rates(values, positive, 0.8)
    assert reference == "a"
    assert [(g.value, g.decisions, g.positive) for g in groups] == [
        ("a", 4, 3), ("b", 5, 1), ("c", 2, 0)
    ]  # fmt: skip
    assert [g.rate for g in groups] == pytest.approx([0.75, 0.2, 0.0])
    assert [g.difference for g in groups] == pytest.approx([0.0, -0.55, -0.75])
    assert [g.ratio for g in groups] == pytest.approx([1.0, 0.2 / 0.75, 0.0])
    assert [g.four_fifths for g in groups] == [True, False, False]
    assert group_rates([], [], 0.8) == ([], None)


@pytest.fixture(scope="module")
def settings(income_files) -> Settings:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    settings.features.protected = ["gender", "ethnicity", "age"]
    return settings


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings, announce=False)


def records(count: int) -> list[dict[str, Any]]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[:count]
    return [{k: native(v) for k, v in r.items()} for r in frame.to_dict("records")]


def log(store: Store, event: str, rows: list[dict[str, Any]]) -> list[str]:
    """Log both sides of ``rows``, answered as the gendered model answers; their ids."""
    sides = []
    scores = gendered([list(r.values()) for r in rows])
    ids = [f"{event}/{k}" for k in range(len(rows))]
    for k, (id, row) in enumerate(zip(ids, rows, strict=True)):
        common: dict[str, Any] = {
            "id": id, "event_id": event, "row_index": k, "row_count": len(rows),
            "source": "kserve", "model": "income",
        }  # fmt: skip
        sides.append(LoggedSide(**common, side="request", instance=list(row.values())))
        answer = {"scores": scores[k].tolist()}
        sides.append(LoggedSide(**common, side="response", answer=answer))
    store.log_inferences(sides)
    return ids


def explained(runtime: Runtime, row: dict[str, Any]) -> Explanation:
    """An explanation of ``row`` with its fairness block, the gendered model answering."""
    scores = gendered([list(row.values())])[0]
    best = int(np.argmax(scores))
    shown = Explanation(
        method="shap", instance=row,
        prediction=Prediction(
            label=paths.CLASS_NAMES[best], class_index=best,
            probabilities=dict(zip(paths.CLASS_NAMES, map(float, scores), strict=True)),
        ),
        result=ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[]),
        fidelity={"method": "shap"},
        cost=Cost(model_calls=1, rows=1, model_seconds=0, seconds=0),
        provenance=Provenance(
            explainer="t", params={}, seed=0, versions={}, reference_fingerprint="x",
            reference_rows=1,
        ),
    )  # fmt: skip
    assert runtime.fairness is not None
    box = BlackBox(gendered, OutputKind.probabilities, paths.CLASS_NAMES)
    return runtime.fairness.assess(shown, box, runtime.budget)


def store_explanation(store: Store, inference_id: str, explanation: Explanation, n: int) -> None:
    record, taken = store.claim(f"key-{inference_id}-{n}", "shap", {}, "me", 60)
    assert taken
    assert store.finish(record.id, "me", explanation)
    store.link_explanation(inference_id, record.id, "shap", None, None)


def test_the_figures_of_a_window_are_those_counted_by_hand(
    backend: Backend, settings: Settings, runtime: Runtime
) -> None:
    store = backend.open()
    rows = records(40)
    ids = log(store, "now", rows)
    old = log(store, "old", records(5))
    backend.execute(
        "UPDATE inferences SET logged_at = ? WHERE event_id = 'old'", (stamp(ago_days=8),)
    )
    # six of the window's inferences are explained, the first two twice
    chosen = [2, 14, 0, 1, 3, 23]
    for k, i in enumerate(chosen):
        for n in range(2 if k < 2 else 1):
            store_explanation(store, ids[i], explained(runtime, rows[i]), n)
    store_explanation(store, old[0], explained(runtime, records(5)[0]), 0)  # outside

    report = parity(store, settings, runtime, "gender", "7d")

    # by hand: the window's 40 rows, the favourable class the last one (>50K)
    favourable: dict[str, list[bool]] = {}
    for row in rows:
        approved = bool(gendered([list(row.values())])[0][1] == 1.0)
        favourable.setdefault(row["gender"], []).append(approved)
    rates = {g: sum(v) / len(v) for g, v in favourable.items()}
    best = max(rates, key=lambda g: rates[g])
    worst = min(rates, key=lambda g: rates[g])
    assert report.positive_class == ">50K"
    assert report.logged == report.read == 40
    assert {g.value: (g.decisions, g.positive) for g in report.groups} == {
        g: (len(v), sum(v)) for g, v in favourable.items()
    }
    assert report.reference_group == best
    assert report.statistical_parity_difference == pytest.approx(rates[worst] - rates[best])
    assert report.disparate_impact == pytest.approx(rates[worst] / rates[best])
    assert report.four_fifths is (rates[worst] / rates[best] >= 0.8)
    flipping = [i for i in chosen if gender_decides(rows[i])]
    assert 0 < len(flipping) < len(chosen) and len(rates) == 2
    assert report.flips.tested == len(chosen)
    assert report.flips.flipped == len(flipping)
    other = {"Male": "Female", "Female": "Male"}
    by_value: dict[str, int] = {}
    for i in flipping:
        by_value[other[rows[i]["gender"]]] = by_value.get(other[rows[i]["gender"]], 0) + 1
    assert report.flips.by_value == by_value
    assert report.flips.explanations_read == len(chosen) + 2  # the two explained twice

    ethnicity = parity(store, settings, runtime, "ethnicity", "7d")
    assert sum(g.decisions for g in ethnicity.groups) == 40
    assert ethnicity.flips.tested == len(chosen) and ethnicity.flips.flipped == 0


def test_the_newest_rows_are_read_up_to_the_limit(
    backend: Backend, settings: Settings, runtime: Runtime
) -> None:
    store = backend.open()
    log(store, "e", records(12))
    limited = settings.model_copy(deep=True)
    limited.fairness.max_window_rows = 5
    report = parity(store, limited, runtime, "gender", "1h")
    assert (report.logged, report.read) == (12, 5)
    assert sum(g.decisions for g in report.groups) == 5


@pytest.mark.parametrize(
    ("attribute", "message"),
    [("occupation", "not a protected attribute"), ("age", "numeric")],
)
def test_an_attribute_that_is_not_a_protected_category_is_refused(
    tmp_path, settings: Settings, runtime: Runtime, attribute: str, message: str
) -> None:
    from explainer_service.store import open_store

    store = open_store(str(tmp_path / "s.sqlite"))
    try:
        with pytest.raises(PayloadError, match=message) as caught:
            parity(store, settings, runtime, attribute, "7d")
        assert caught.value.field == "attribute"
    finally:
        store.close()


def test_the_client_tests_answer_is_one_the_service_sends() -> None:
    """The notebook client's tests parse ``PARITY_REPORT``: the service's model of a
    ``GET /fairness`` answer reads it back unchanged."""
    from explainer_service.inferences.parity import ParityReport
    from tests.helpers.fairness_report import PARITY_REPORT

    assert ParityReport.model_validate(PARITY_REPORT).model_dump(mode="json") == PARITY_REPORT
