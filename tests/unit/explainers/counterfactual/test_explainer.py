"""Counterfactuals on threshold models: valid, immutable features untouched, minimal; within
one-way features, ranges and linked features, with a plausibility score; fewer than asked
with the reason; features_to_vary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import (
    BlackBox,
    Budget,
    BudgetExceededError,
    FeatureSchema,
    OutputKind,
    ParameterError,
)
from explainers.counterfactual.candidates import refine_steps
from explainers.counterfactual.explainer import CounterfactualExplainer
from explainers.counterfactual.search import COMBINED_VALUES, REFINE_POINTS
from tests.conftest import IMMUTABLE, applicant
from tests.helpers.ground_truth import (
    THRESHOLD_FEATURES,
    additive_regression,
    schooling_or_hours_classifier,
    threshold_classifier,
    workclass_classifier,
)
from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP


@pytest.fixture(scope="module")
def threshold_cf(census_schema: FeatureSchema, reference: pd.DataFrame) -> CounterfactualExplainer:
    return CounterfactualExplainer(
        census_schema, reference, BlackBox(threshold_classifier, class_names=["no", "yes"])
    )


def test_threshold_model(threshold_cf, reference: pd.DataFrame) -> None:
    instance = applicant(reference, 11, **{"capital-gain": 0, "education-num": 9})
    explanation = threshold_cf.explain(instance, {})
    result, fidelity = explanation.result, explanation.fidelity
    assert explanation.prediction.label == "no" and result.desired == "yes"
    assert result.found and result.counterfactuals
    for cf in result.counterfactuals:
        rows = [[cf.values[name] for name in threshold_cf.schema.names]]
        assert threshold_classifier(rows)[0, 1] == 1.0  # valid on the model itself
        assert cf.valid and cf.prediction.label == "yes"
        changed = {c.feature for c in cf.changes}
        assert changed and changed <= THRESHOLD_FEATURES, changed
        for name in IMMUTABLE:
            assert cf.values[name] == instance[name]
        for change in cf.changes:
            assert change.from_value == instance[change.feature]
            assert change.to_value == cf.values[change.feature]
    assert fidelity.validity == 1.0 and fidelity.valid == fidelity.generated
    assert 1 <= fidelity.sparsity <= 2 and fidelity.proximity > 0


def test_nothing_found_is_a_result_not_an_error(census_schema, reference: pd.DataFrame) -> None:
    """Only immutable features matter to this model, so no counterfactual can exist."""

    def by_age(rows):
        positive = pd.Series([row[0] for row in rows]).astype(float).gt(200).astype(float)
        return pd.concat([1 - positive, positive], axis=1).to_numpy()

    explainer = CounterfactualExplainer(
        census_schema, reference, BlackBox(by_age, class_names=["no", "yes"])
    )
    explanation = explainer.explain(applicant(reference), {"total": 2})
    assert not explanation.result.found
    assert explanation.result.counterfactuals == []
    assert "no counterfactual" in explanation.result.message.lower()


def test_regression_needs_a_desired_range(census_schema, reference: pd.DataFrame) -> None:
    explainer = CounterfactualExplainer(
        census_schema, reference, BlackBox(additive_regression, output=OutputKind.regression)
    )
    instance = applicant(reference, 2)
    with pytest.raises(ParameterError) as info:
        explainer.explain(instance)
    assert info.value.field == "desired_range"
    value = float(additive_regression([[instance[n] for n in census_schema.names]])[0])
    explanation = explainer.explain(instance, {"desired_range": (value + 20, value + 60)})
    for cf in explanation.result.counterfactuals:
        assert value + 20 <= cf.prediction.value <= value + 60


def test_desired_class_checks(threshold_cf, reference: pd.DataFrame) -> None:
    instance = applicant(reference, 11, **{"capital-gain": 0, "education-num": 9})
    with pytest.raises(ParameterError, match="already predicts"):
        threshold_cf.explain(instance, {"desired_class": "no"})
    with pytest.raises(ParameterError, match="unknown class"):
        threshold_cf.explain(instance, {"desired_class": "maybe"})


@pytest.mark.parametrize(
    ("column", "features", "codes"),
    [
        # codes that are the categories' own numbers, not 0..k-1
        ([1, 2, 5], {"categorical": ["plan"]}, {"basic": 1, "plus": 2, "pro": 5}),
        # codes that index named categories, as floats (an FP64 tensor)
        (
            [0.0, 1.0, 2.0],
            {"overrides": {"plan": {"wire": "code", "categories": ["basic", "plus", "pro"]}}},
            {"basic": 0, "plus": 1, "pro": 2},
        ),
    ],
)
def test_coded_categories_reach_the_model_as_codes(
    column: list, features: dict, codes: dict[str, int]
) -> None:
    """The search works on category codes; the model must still receive its own."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"plan": rng.choice(column, 300), "usage": rng.integers(0, 100, 300)})
    schema = FeatureSchema.infer(data, **features)

    def model(rows):
        plans = [row[0] for row in rows]
        assert all(isinstance(p, int) and p in codes.values() for p in plans), plans[:5]
        positive = np.array([p == codes["pro"] for p in plans], dtype=float)
        return np.column_stack([1 - positive, positive])

    explainer = CounterfactualExplainer(schema, data, BlackBox(model, class_names=["no", "yes"]))
    instance = {"plan": float(codes["plus"]), "usage": 10}  # as an FP64 tensor carries it
    explanation = explainer.explain(instance, {"total": 2})
    assert explanation.result.found, explanation.result.message
    for cf in explanation.result.counterfactuals:
        assert cf.valid and cf.values == {"plan": codes["pro"], "usage": 10}
        assert [(c.feature, c.to_value) for c in cf.changes] == [("plan", codes["pro"])]


# --- constraints: one-way features, ranges, linked features, plausibility -----------------

RANGES = {"hours-per-week": (20, 60), "capital-gain": (0, 10000)}
CONSTRAINTS = {
    "overrides": {
        "education-num": {"direction": "increase"},
        **{name: {"min": low, "max": high} for name, (low, high) in RANGES.items()},
    },
    "links": [["education", "education-num"]],
}


@pytest.fixture(scope="module")
def constrained_schema(reference: pd.DataFrame) -> FeatureSchema:
    return FeatureSchema.infer(reference, target=paths.TARGET, immutable=IMMUTABLE, **CONSTRAINTS)


@pytest.fixture(scope="module")
def constrained_cf(
    constrained_schema: FeatureSchema, reference: pd.DataFrame
) -> CounterfactualExplainer:
    return explainer_for(constrained_schema, reference, threshold_classifier)


def explainer_for(schema: FeatureSchema, reference: pd.DataFrame, model) -> CounterfactualExplainer:
    return CounterfactualExplainer(schema, reference, BlackBox(model, class_names=["no", "yes"]))


def nearest_distance(reference: pd.DataFrame, values: dict) -> float:
    """Written out independently: numbers in units of the reference range, 1 per differing
    category, averaged over the features; the smallest over the reference rows."""
    total = np.zeros(len(reference))
    for name in paths.FEATURES:
        column = reference[name]
        if name in paths.NUMERIC:
            span = float(column.max() - column.min())
            total += np.abs(column.to_numpy(float) - float(values[name])) / span
        else:
            total += (column.astype(str) != str(values[name])).to_numpy(float)
    return float(total.min() / len(paths.FEATURES))


def check_counterfactual(reference: pd.DataFrame, instance: dict, cf, threshold: float) -> None:
    """The constraints of CONSTRAINTS, checked against the reference data itself."""
    values = cf.values
    assert all(values[name] == instance[name] for name in IMMUTABLE)
    assert values["education-num"] >= instance["education-num"], "schooling only increases"
    for name, (low, high) in RANGES.items():
        assert values[name] == instance[name] or low <= values[name] <= high, (name, values)
    seen = set(zip(reference["education"], reference["education-num"], strict=True))
    assert (values["education"], values["education-num"]) in seen, "a seen combination"
    assert cf.violations == []
    assert cf.nearest_distance == pytest.approx(nearest_distance(reference, values), abs=1e-9)
    assert cf.plausible == (cf.nearest_distance <= threshold)


def test_violations_name_unseen_combinations_and_one_way_moves(
    census_schema: FeatureSchema, constrained_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """The issue's 'education-num 13 -> 9 while education stays Bachelors'."""
    free = FeatureSchema(features=census_schema.features, links=[["education", "education-num"]])
    bachelor = applicant(reference, 0, education="Bachelors", **{"education-num": 13})
    for schema in (free, constrained_schema):
        constraints = explainer_for(schema, reference, threshold_classifier)._constraints
        x = schema.to_numeric([list(bachelor.values())])[0]
        fewer_years = schema.to_numeric([list({**bachelor, "education-num": 9}.values())])[0]
        one_way = ["education-num may only increase (13 -> 9)"]
        assert constraints.violations(x, fewer_years) == [
            *(one_way if schema is constrained_schema else []),
            "education = Bachelors, education-num = 9: a combination the reference data does "
            "not hold",
        ]
        seen = schema.to_numeric(
            [list({**bachelor, "education": "Masters", "education-num": 14}.values())]
        )[0]
        assert constraints.violations(x, seen) == []


def test_constrained_threshold_model(
    constrained_cf: CounterfactualExplainer, reference: pd.DataFrame
) -> None:
    """Valid on the model, within direction, ranges and links, with a plausibility score;
    the model reads education-num only, so the search must move education with it."""
    explainer = constrained_cf
    instance = applicant(
        reference,
        11,
        education="HS-grad",
        **{"education-num": 9, "capital-gain": 0, "hours-per-week": 45},
    )
    explanation = explainer.explain(instance, {})
    result, fidelity = explanation.result, explanation.fidelity
    assert result.found and result.counterfactuals
    for cf in result.counterfactuals:
        rows = [[cf.values[name] for name in explainer.schema.names]]
        assert threshold_classifier(rows)[0, 1] == 1.0 and cf.valid  # valid on the model
        check_counterfactual(reference, instance, cf, fidelity.plausibility_threshold)
        changed = {c.feature for c in cf.changes}
        assert changed in ({"capital-gain"}, {"education", "education-num"}), changed
    assert fidelity.dropped_constraints == 0  # the search itself stays within them
    assert len(result.counterfactuals) == params_total(explanation) or result.message


def params_total(explanation) -> int:
    return explanation.provenance.params["total"]


def test_a_one_way_feature_only_moves_its_way(
    census_schema: FeatureSchema,
    constrained_schema: FeatureSchema,
    reference: pd.DataFrame,
) -> None:
    """Less schooling would do, but schooling only increases: longer hours it is."""
    instance = applicant(
        reference, 11, education="Some-college", **{"education-num": 10, "hours-per-week": 40}
    )
    params = {"total": 4}
    explainer = explainer_for(constrained_schema, reference, schooling_or_hours_classifier)
    explanation = explainer.explain(instance, params)
    result = explanation.result
    assert result.found and explanation.fidelity.dropped_constraints == 0
    for cf in result.counterfactuals:
        assert cf.values["education-num"] >= 10 and 50 <= cf.values["hours-per-week"] <= 60
        assert [c.feature for c in cf.changes] == ["hours-per-week"]
    # without the direction, the same search takes schooling away: the check above can fail
    free = explainer_for(census_schema, reference, schooling_or_hours_classifier)
    unbounded = free.explain(instance, params).result.counterfactuals
    assert any(cf.values["education-num"] < 10 for cf in unbounded)


# --- fewer than asked, and why ------------------------------------------------------------


def test_one_possible_change_gives_one_counterfactual_and_says_why(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    explainer = explainer_for(census_schema, reference, workclass_classifier)
    instance = applicant(reference, 11, workclass="Private")
    explanation = explainer.explain(instance, {"total": 4})
    result = explanation.result
    assert [cf.values["workclass"] for cf in result.counterfactuals] == ["Federal-gov"]
    assert [c.feature for c in result.counterfactuals[0].changes] == ["workclass"]
    assert result.message.startswith("1 of the 4 counterfactuals asked for reach yes: ")
    assert "the search tried" in result.message


def test_constraints_that_leave_no_way_say_so(reference: pd.DataFrame) -> None:
    """Longer hours would do, but not beyond 45; less schooling would, but it only grows."""
    schema = FeatureSchema.infer(
        reference,
        target=paths.TARGET,
        immutable=IMMUTABLE,
        overrides={
            "education-num": {"direction": "increase"},
            "hours-per-week": {"min": 20, "max": 45},
        },
    )
    explainer = explainer_for(schema, reference, schooling_or_hours_classifier)
    instance = applicant(reference, 11, **{"education-num": 10, "hours-per-week": 40})
    result = explainer.explain(instance, {"total": 2}).result
    assert not result.found and result.counterfactuals == []
    assert result.message.startswith("no counterfactual reaching yes was found: the search tried ")
    assert "within the constraints (education-num 10 to 16, hours-per-week 20 to 45)" in (
        result.message
    )
    # a feature with nowhere to go is not searched at all
    stuck = explainer.explain(
        applicant(reference, 11, **{"education-num": 16, "hours-per-week": 40}),
        {"features_to_vary": ["education-num"]},
    ).result
    assert not stuck.found
    assert stuck.message == (
        "no counterfactual reaching yes was found: no feature may change: education-num "
        "cannot move from the instance's values within their ranges and directions."
    )


def test_implausible_rows_are_never_proposed_unless_kept_flagged(
    constrained_cf: CounterfactualExplainer, reference: pd.DataFrame
) -> None:
    explainer = constrained_cf
    instance = applicant(reference, 11, education="HS-grad", **{"education-num": 9})
    strict = {"plausibility_quantile": 0.001}
    explanation = explainer.explain(instance, strict)
    fidelity = explanation.fidelity
    assert fidelity.plausibility_threshold == 0.0  # many reference rows have a twin
    assert fidelity.dropped_implausible == 0 and fidelity.dropped_constraints == 0
    for cf in explanation.result.counterfactuals:  # only reference rows themselves pass
        assert cf.plausible and cf.nearest_distance == 0.0
    assert "implausible" in explanation.result.message  # the search says what it left out
    flagged = explainer.explain(instance, {**strict, "keep_invalid": True})
    implausible = [cf for cf in flagged.result.counterfactuals if cf.valid and not cf.plausible]
    assert implausible and flagged.fidelity.dropped_implausible == 0  # kept, flagged
    assert "implausible" in flagged.result.message  # still not counted as found
    for cf in implausible:
        assert cf.nearest_distance > 0 and cf.violations == []
        assert cf.nearest_distance == pytest.approx(nearest_distance(reference, cf.values))


def test_a_budget_that_stops_the_refining_leaves_verified_counterfactuals(
    constrained_cf: CounterfactualExplainer, reference: pd.DataFrame
) -> None:
    explainer = constrained_cf
    instance = applicant(reference, 11, education="HS-grad", **{"education-num": 9})
    free = explainer.explain(instance)
    # the instance, then every single change in one call; the refining is cut
    explanation = explainer.explain(instance, {}, Budget(max_model_calls=2))
    assert explanation.cost.model_calls == 2 < free.cost.model_calls
    result = explanation.result
    assert result.found and "budget stopped the search" in result.message
    for cf in result.counterfactuals:
        assert cf.valid and len(cf.changes) <= 2
        check_counterfactual(reference, instance, cf, explanation.fidelity.plausibility_threshold)
    # refined: no farther than what the budget left
    gain = [
        cf.values["capital-gain"]
        for cf in free.result.counterfactuals
        if cf.changes[0].feature == "capital-gain"
    ]
    cut = [
        cf.values["capital-gain"]
        for cf in result.counterfactuals
        if cf.changes[0].feature == "capital-gain"
    ]
    assert min(gain) < min(cut)
    with pytest.raises(BudgetExceededError):  # stopped before any counterfactual was found
        explainer.explain(instance, {}, Budget(max_model_calls=1))


# --- features_to_vary ---------------------------------------------------------------------


def test_features_to_vary(constrained_cf: CounterfactualExplainer, reference: pd.DataFrame) -> None:
    explainer = constrained_cf
    instance = applicant(reference, 11, education="HS-grad", **{"education-num": 9})
    gains = explainer.explain(instance, {"features_to_vary": ["capital-gain"]}).result
    assert gains.found
    for cf in gains.counterfactuals:
        assert [c.feature for c in cf.changes] == ["capital-gain"]
        assert 5000 < cf.values["capital-gain"] <= 10000
    # naming one of a linked group varies the group; the query-parameter form "a,b" reads too
    schooling = explainer.explain(instance, {"features_to_vary": "education-num, occupation"})
    assert schooling.provenance.params["features_to_vary"] == ["education-num", "occupation"]
    assert schooling.result.found
    for cf in schooling.result.counterfactuals:
        assert {c.feature for c in cf.changes} == {"education", "education-num"}
        check_counterfactual(reference, instance, cf, schooling.fidelity.plausibility_threshold)


@pytest.mark.parametrize(
    ("features", "words"),
    [
        (["age"], "'age': immutable in the configuration"),
        (["hours-per-week", "gender"], "'gender': immutable"),
        (["salary"], "unknown feature(s) 'salary'; features: age, workclass"),
        ([], "at least 1 item"),
    ],
)
def test_features_to_vary_errors(
    constrained_schema: FeatureSchema, reference: pd.DataFrame, features: list, words: str
) -> None:
    """Refused before any model call, and by the estimate as well (dry runs, budgets)."""
    calls: list[int] = []

    def counted(rows):
        calls.append(len(rows))
        return threshold_classifier(rows)

    explainer = explainer_for(constrained_schema, reference, counted)
    with pytest.raises(ParameterError) as info:
        explainer.explain(applicant(reference, 11), {"features_to_vary": features})
    assert info.value.field == "features_to_vary" and words in str(info.value)
    assert calls == []
    if features:
        params = CounterfactualExplainer.validate_params({"features_to_vary": features})
        with pytest.raises(ParameterError) as info:
            CounterfactualExplainer.estimate(
                params, constrained_schema, reference_rows=len(reference)
            )
        assert info.value.field == "features_to_vary" and words in str(info.value)


def test_the_estimate_bounds_the_cost_of_fewer_features(
    constrained_cf: CounterfactualExplainer, reference: pd.DataFrame
) -> None:
    explainer = constrained_cf
    instance = applicant(reference, 11, education="HS-grad", **{"education-num": 9})
    rows = len(reference)
    every = CounterfactualExplainer.validate_params({})
    few = CounterfactualExplainer.validate_params(
        {"features_to_vary": ["education-num", "capital-gain"]}
    )
    estimate = CounterfactualExplainer.estimate(few, explainer.schema, reference_rows=rows)
    assert estimate.upper_bound
    whole = CounterfactualExplainer.estimate(every, explainer.schema, reference_rows=rows)
    # two units (education with education-num, capital-gain), ten values each alone, six
    # each in pairs; refining one feature, then two, at most three rows per answer a step
    # the longest lattice: capital-gain's whole numbers 0 to 10,000
    steps = refine_steps(10001, REFINE_POINTS)
    single = 1 + steps + 1
    pair = 1 + 2 * steps + 1
    assert estimate.model_calls == 1 + single + pair + 1
    total = 3
    assert estimate.rows == (
        1
        + 2 * 10
        + steps * total * REFINE_POINTS
        + total
        + COMBINED_VALUES[2] ** 2
        + 2 * steps * total * REFINE_POINTS
        + total
        + total
    )
    assert whole.rows > estimate.rows and whole.model_calls > estimate.model_calls
    cost = explainer.explain(instance, few.model_dump()).cost
    assert cost.model_calls <= estimate.model_calls and cost.rows <= estimate.rows


def test_the_service_answers_a_bad_features_to_vary_with_a_json_error(
    income_files, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Refused by the estimate, before anything is queued (no model is needed)."""
    app = fake_app(tmp_path_factory.mktemp("features-to-vary"))
    body = {"instances": [applicant(pd.read_csv(paths.REFERENCE))]}
    with served(app) as url:
        wait_for_worker(app)
        for query, words in (
            ("features_to_vary=age", "'age': immutable in the configuration"),
            ("features_to_vary=salary,hours-per-week", "unknown feature(s) 'salary'"),
        ):
            for mode in ("dry_run=true", "mode=sync"):
                response = HTTP.post(
                    f"{url}/explain?method=counterfactual&{mode}&{query}", json=body, timeout=60
                )
                assert response.status_code == 422, response.text
                error = response.json()["error"]
                assert error["code"] == "invalid_parameter" and words in error["message"]
                assert error["detail"]["field"] == "features_to_vary"
        accepted = HTTP.post(
            f"{url}/explain?method=counterfactual&dry_run=true&features_to_vary=hours-per-week",
            json=body,
            timeout=60,
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["parameters"]["features_to_vary"] == ["hours-per-week"]


def age_band_labels(rows: list[list]) -> np.ndarray:
    """Labels "2" under 30, "3" under 45, else "10"."""
    age = np.array([float(row[paths.FEATURES.index("age")]) for row in rows])
    return np.where(age < 30, "2", np.where(age < 45, "3", "10"))


@pytest.mark.parametrize(("age", "desired"), [(25, "3"), (40, "10"), (60, "3")])
def test_labels_of_many_classes_default_to_a_neighbour_in_the_models_order(
    census_schema: FeatureSchema, reference: pd.DataFrame, age: int, desired: str
) -> None:
    """No probabilities say which class is next most likely: the next class in the model's
    order, or the one before it for the last."""
    schema = FeatureSchema.infer(reference, target=paths.TARGET)  # age may change
    explainer = CounterfactualExplainer(
        schema,
        reference,
        BlackBox(age_band_labels, OutputKind.labels, class_names=["2", "3", "10"]),
    )
    explanation = explainer.explain(applicant(reference, 0, age=age), {"total": 1})
    assert explanation.result.desired == desired
    assert explanation.result.found
    for cf in explanation.result.counterfactuals:
        assert cf.prediction.label == desired
        assert cf.prediction.class_index == ["2", "3", "10"].index(desired)
