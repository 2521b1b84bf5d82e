"""Counterfactuals against models whose minimal changes are known, served by a real process
(``tests.helpers.servers.minimal_model``): the fewest features changed (found by brute force
over one and two features, within the constraints), the nearest valid value (one step back
no longer reaches), nothing immutable or ignored touched, direction, range, links and
``features.missing`` respected, every class kind; and the estimate bounds what the model
server counts, on every model and parameter set."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from tests.helpers.servers.minimal_model import CLASSES, MODELS
from tests.helpers.support import ServerProcess, free_port, python_server
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

IMMUTABLE = ["gender", "ethnicity", "relationship", "marital-status"]
HOURS_MAX = 70
FEATURES = {
    "immutable": IMMUTABLE,
    "links": [["education", "education-num"]],
    "missing": ["?"],
    "overrides": {
        "age": {"direction": "increase"},
        "education-num": {"direction": "increase"},
        "capital-loss": {"direction": "decrease"},
        "hours-per-week": {"min": 1, "max": HOURS_MAX},
    },
}
#: a 39-year-old high-school graduate in tech support, 40 hours, no capital gains or losses
BASE = {
    "age": 39,
    "workclass": "Private",
    "education": "HS-grad",
    "education-num": 9,
    "occupation": "Tech-support",
    "capital-gain": 0,
    "capital-loss": 0,
    "hours-per-week": 40,
}
REGRESSION = {"desired_range": [280, 400]}  # 199 at BASE


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(paths.REFERENCE)


@pytest.fixture(scope="module")
def server(output_dir: Path) -> Iterator[str]:
    port = free_port()
    process: ServerProcess = python_server(
        "tests.helpers.servers.minimal_model", port, log=output_dir / "minimal-model.log"
    ).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def runtimes(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    built: dict[tuple[str, bool], FittedRuntime] = {}
    directory = tmp_path_factory.mktemp("minimal")

    def runtime(name: str, missing: bool = True) -> FittedRuntime:
        if (name, missing) not in built:
            features = {**FEATURES, "missing": FEATURES["missing"] if missing else []}
            config = {
                "model": {
                    "name": name,
                    "url": f"{server}/v2/models/{name}/infer",
                    "output": MODELS[name][1],
                    "retries": 0,
                    "max_batch_rows": 64,  # split: the estimate must count the chunks
                    "metadata_wait_s": 0,
                    **({"class_names": CLASSES} if MODELS[name][1] == "labels" else {}),
                    **({"class_names": ["no", "yes"]} if name in PROBABILITIES else {}),
                },
                "data": {"reference": str(paths.REFERENCE), "target": paths.TARGET},
                "features": {"source": "reference", **features},
                "explainers": {"counterfactual": {"total": 3}},
                "service": {"store": ":memory:"},
            }
            path = directory / f"{name}-{missing}.yaml"
            path.write_text(yaml.safe_dump(config))
            built[(name, missing)] = FittedRuntime(load_settings(path))
        return built[(name, missing)]

    yield runtime
    for fitted in built.values():
        fitted.close()


PROBABILITIES = [n for n, (_, output) in MODELS.items() if output == "probabilities"]


def instance(reference: pd.DataFrame, **values: Any) -> list[Any]:
    record = {**reference[paths.FEATURES].iloc[0].to_dict(), **BASE, **values}
    return [record[n].item() if hasattr(record[n], "item") else record[n] for n in paths.FEATURES]


def explain(runtime: FittedRuntime, row: list[Any], params: dict[str, Any] | None = None):
    return runtime.explainer("counterfactual").explain(row, params or {})


# --- the ground truth, by brute force ----------------------------------------------------


def allowed_values(reference: pd.DataFrame, row: list[Any], name: str) -> list[Any]:
    """Every value a feature may take from ``row`` under FEATURES: whole numbers within the
    range and direction (the reference data's range where none is set), every category but
    "?"; a linked feature alone: none (its group moves as one, see ``units``)."""
    value = row[paths.FEATURES.index(name)]
    if name in paths.NUMERIC:
        override = FEATURES["overrides"].get(name, {})
        low = override.get("min", reference[name].min())
        high = override.get("max", reference[name].max())
        if override.get("direction") == "increase":
            low = max(low, value)
        if override.get("direction") == "decrease":
            high = min(high, value)
        values = sorted(set(range(int(low), int(high) + 1)) & set(reference[name]) | {high})
        return [v for v in values if v != value and low <= v <= high]
    return [c for c in sorted(set(reference[name].astype(str))) if c not in ("?", value)]


def units(reference: pd.DataFrame, row: list[Any]) -> list[list[dict[str, Any]]]:
    """Each mutable unit's possible changes, as {feature: value} dicts."""
    found = []
    seen = reference[["education", "education-num"]].drop_duplicates()
    schooling = [
        {"education": e, "education-num": int(n)}
        for e, n in seen.itertuples(index=False)
        if n > row[paths.FEATURES.index("education-num")]
    ]
    found.append(schooling)
    for name in paths.FEATURES:
        if name in IMMUTABLE or name in ("education", "education-num"):
            continue
        found.append([{name: v} for v in allowed_values(reference, row, name)])
    return found


def fewest_changes(reference: pd.DataFrame, row: list[Any], reaches: Callable) -> int:
    """The fewest units one change of which reaches the outcome (1 or 2; 3: neither)."""
    options = units(reference, row)
    for size in (1, 2):
        for combo in itertools.combinations(options, size):
            candidates = []
            for picks in itertools.product(*combo):
                changed = list(row)
                for change in picks:
                    for name, value in change.items():
                        changed[paths.FEATURES.index(name)] = value
                candidates.append(changed)
            if reaches(candidates).any():
                return size
    return 3


def changed_units(cf) -> int:
    names = {c.feature for c in cf.changes}
    return len(names - {"education"}) if "education-num" in names else len(names)


def check(reference: pd.DataFrame, row: list[Any], cf, reaches: Callable) -> None:
    """Valid on the model itself and within every constraint of FEATURES."""
    values = cf.values
    wire = [values[n] for n in paths.FEATURES]
    assert reaches([wire])[0], values
    original = dict(zip(paths.FEATURES, row, strict=True))
    for name in IMMUTABLE:
        assert values[name] == original[name]
    assert values["age"] >= original["age"] and values["education-num"] >= original["education-num"]
    assert values["capital-loss"] <= original["capital-loss"]
    assert values["hours-per-week"] == original["hours-per-week"] or (
        1 <= values["hours-per-week"] <= HOURS_MAX
    )
    seen = set(zip(reference["education"], reference["education-num"], strict=True))
    assert (values["education"], values["education-num"]) in seen
    assert "?" not in {values["workclass"], values["occupation"]}
    assert cf.violations == [] and cf.valid


def yes(name: str) -> Callable:
    return lambda rows: MODELS[name][0](rows)[:, 1] == 1.0


def one_step_back_fails(row: list[Any], cf, feature: str, step: int, reaches: Callable) -> None:
    """The nearest valid value: a whole unit nearer the instance no longer reaches."""
    j = paths.FEATURES.index(feature)
    back = [cf.values[n] for n in paths.FEATURES]
    back[j] -= step if back[j] > row[j] else -step
    assert not reaches([back])[0], (feature, cf.values[feature])


# --- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("hours", {}, {"hours-per-week"}),
        ("both", {}, {"hours-per-week", "capital-gain"}),
        ("few", {}, {"hours-per-week", "capital-gain"}),
        ("unknown", {}, {"hours-per-week"}),
    ],
)
def test_the_fewest_changes_to_the_nearest_valid_values(
    runtimes: Callable, reference: pd.DataFrame, name: str, values: dict, expected: set
) -> None:
    row = instance(reference, **values)
    reaches = yes(name)
    assert not reaches([row])[0]
    minimum = fewest_changes(reference, row, reaches)
    explanation = explain(runtimes(name), row)
    found = explanation.result.counterfactuals
    assert len(found) == 3, explanation.result.message
    for cf in found:
        check(reference, row, cf, reaches)
        assert changed_units(cf) == minimum, (cf.changes, minimum)
        assert {c.feature for c in cf.changes} <= expected  # nothing ignored is touched
    first = found[0]
    for change in first.changes:
        one_step_back_fails(row, first, change.feature, 1, reaches)


def test_a_threshold_gives_its_value_then_others_past_it(
    runtimes: Callable, reference: pd.DataFrame
) -> None:
    """The rule "hours >= 44": 44 first, then three distinct values past it."""
    row = instance(reference)
    found = explain(runtimes("hours"), row, {"total": 4}).result.counterfactuals
    hours = [cf.values["hours-per-week"] for cf in found]
    assert hours[0] == 44 and len(set(hours)) == 4 and min(hours) == 44


def test_two_needed_features_both_land_on_their_thresholds(
    runtimes: Callable, reference: pd.DataFrame
) -> None:
    row = instance(reference)
    assert fewest_changes(reference, row, yes("both")) == 2
    first = explain(runtimes("both"), row).result.counterfactuals[0]
    assert (first.values["hours-per-week"], first.values["capital-gain"]) == (45, 3000)


def test_missing_categories_are_never_proposed(runtimes: Callable, reference: pd.DataFrame) -> None:
    """workclass "?" is the nearest way to yes; declared missing, it is never proposed."""
    row = instance(reference)
    undeclared = explain(runtimes("unknown", missing=False), row).result.counterfactuals
    assert any(cf.values["workclass"] == "?" for cf in undeclared)  # the check can fail
    declared = explain(runtimes("unknown"), row).result.counterfactuals
    assert declared and all(cf.values["workclass"] != "?" for cf in declared)
    assert declared[0].values["hours-per-week"] == 60


def test_a_regression_changes_one_feature_within_its_range(
    runtimes: Callable, reference: pd.DataFrame
) -> None:
    """199 -> [280, 400]: age >= 80 or hours >= 81 alone; hours may not pass 70, so age,
    which may only increase."""
    row = instance(reference)
    regression = MODELS["regression"][0]
    assert regression([row])[0] == 199

    def reaches(rows: list) -> np.ndarray:
        values = regression(rows)
        return np.asarray((values >= 280) & (values <= 400))

    explanation = explain(runtimes("regression"), row, REGRESSION)
    found = explanation.result.counterfactuals
    assert found, explanation.result.message
    for cf in found:
        check(reference, row, cf, reaches)
        assert [c.feature for c in cf.changes] == ["age"]
        assert 280 <= cf.prediction.value <= 400
    assert found[0].values["age"] == 80


@pytest.mark.parametrize(("hours", "desired", "expected"), [(50, None, 44), (50, "2", 34)])
def test_three_labels_named_2_3_10(
    runtimes: Callable, reference: pd.DataFrame, hours: int, desired: str | None, expected: int
) -> None:
    """An instance of the third class, with and without desired_class, gets a
    counterfactual at the nearest hours of the class asked for."""
    row = instance(reference, **{"hours-per-week": hours})
    params = {"desired_class": desired} if desired else {}
    explanation = explain(runtimes("bands"), row, params)
    assert explanation.prediction.label == "10"
    wanted = desired or "3"
    assert explanation.result.desired == wanted
    found = explanation.result.counterfactuals
    assert found, explanation.result.message
    for cf in found:
        assert cf.prediction.label == wanted and [c.feature for c in cf.changes] == [
            "hours-per-week"
        ]
    assert found[0].values["hours-per-week"] == expected


PARAMETERS = [
    {},
    {"total": 1},
    {"total": 6, "max_features": 2, "values_per_feature": 20},
    {"beam_width": 3, "values_per_feature": 4},
    {"features_to_vary": ["workclass", "occupation"], "keep_invalid": True},
]


@pytest.mark.parametrize("name", list(MODELS))
def test_the_estimate_bounds_what_the_model_server_counts(
    runtimes: Callable, server: str, reference: pd.DataFrame, name: str
) -> None:
    runtime = runtimes(name)
    row = instance(reference, **({"hours-per-week": 50} if name == "bands" else {}))
    for parameters in PARAMETERS:
        params = {**parameters, **(REGRESSION if name == "regression" else {})}
        estimate = runtime.estimate(
            "counterfactual", runtime.resolve_params("counterfactual", params)
        )
        assert estimate is not None and estimate.upper_bound
        before = HTTP.get(f"{server}/stats", timeout=30).json()[name]
        cost = explain(runtime, row, params).cost
        after = HTTP.get(f"{server}/stats", timeout=30).json()[name]
        served = (after["requests"] - before["requests"], after["rows"] - before["rows"])
        assert (cost.model_calls, cost.rows) == served, params
        assert cost.model_calls <= estimate.model_calls and cost.rows <= estimate.rows, (
            params,
            cost,
            estimate,
        )
