"""Anchors on models whose true rule is known, and against alibi 0.9.4 as a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainers import BlackBox, ExplainerError, FeatureSchema, OutputKind
from explainers.anchors.explainer import AnchorParams, AnchorsExplainer, _note, _number, _readable
from explainers.anchors.search import Anchor, Measurement
from explainers.explanation import Condition
from tests.conftest import applicant
from tests.helpers import reference as reference_engines
from tests.helpers.ground_truth import (
    additive_regression,
    age_band,
    conjunction,
    data_step,
    rule_classifier,
)

DECILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


class CountingRule:
    """The rule classifier, counting the calls and rows it answers."""

    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0

    def __call__(self, rows):
        self.calls += 1
        self.rows += len(rows)
        return rule_classifier(rows)


@pytest.fixture(scope="module")
def rule_anchors(census_schema: FeatureSchema, reference: pd.DataFrame) -> AnchorsExplainer:
    # deciles put a bin edge above 50 for age and at 40 for hours, so the true rule
    # (age > 50 and hours > 40) can be expressed exactly
    return AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"]),
        {"disc_perc": DECILES},
    )  # fmt: skip


def _holds(condition: Condition, value) -> bool:
    if condition.operator == "=":
        return str(value) == str(condition.value)
    return value <= condition.value if condition.operator == "<=" else value > condition.value


def test_rule_classifier_anchor_names_exactly_the_two_features(
    rule_anchors: AnchorsExplainer, reference: pd.DataFrame
) -> None:
    explanation = rule_anchors.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    assert explanation.prediction.label == "yes"
    result, fidelity = explanation.result, explanation.fidelity
    assert {c.feature for c in result.conditions} == {"age", "hours-per-week"}
    assert result.precision == 1.0 and fidelity.precision == 1.0
    assert fidelity.threshold_met and fidelity.precision_lower >= 0.95
    for condition in result.conditions:  # every bound implies the rule's own
        assert condition.operator == ">"
        assert condition.value >= (50 if condition.feature == "age" else 40)
    assert result.examples_hold and not result.examples_fail
    for example in result.examples_hold:
        assert all(_holds(c, example[c.feature]) for c in result.conditions), example
    true_share = ((reference["age"] > 50) & (reference["hours-per-week"] > 40)).mean()
    assert 0 < result.coverage <= true_share
    assert fidelity.reference_rows == round(result.coverage * len(reference))


def test_the_same_seed_gives_the_same_anchor(rule_anchors, reference) -> None:
    instance = applicant(reference, 5, age=58, **{"hours-per-week": 45})
    first = rule_anchors.explain(instance, {"seed": 3})
    again = rule_anchors.explain(instance, {"seed": 3})
    assert first.result == again.result and first.fidelity == again.fidelity


def test_quartiles_get_thresholds_near_the_instance(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """No quartile of age is 50, but the quantiles inside the instance's own bin give the
    search a bound at or above it."""
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"])
    )
    explanation = explainer.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    result, fidelity = explanation.result, explanation.fidelity
    assert {c.feature for c in result.conditions} == {"age", "hours-per-week"}
    assert fidelity.threshold_met and result.precision == 1.0
    age = [c for c in result.conditions if c.feature == "age"]
    assert [c.operator for c in age] == [">"] and age[0].value >= 50


def test_a_rule_that_cannot_reach_the_threshold_says_so(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """One predicate cannot say age > 50 and hours > 40: the anchor says it does not hold,
    and shows where it fails."""
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"]),
        {"max_anchor_size": 1},
    )  # fmt: skip
    explanation = explainer.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    result, fidelity = explanation.result, explanation.fidelity
    assert not fidelity.threshold_met and fidelity.precision < 0.95
    assert fidelity.precision_upper < 0.95  # settled, not a near miss
    assert "no rule" in fidelity.note
    assert len(result.conditions) == 1
    # where it fails, the true rule does not hold
    assert result.examples_fail
    assert all(ex["age"] <= 50 or ex["hours-per-week"] <= 40 for ex in result.examples_fail)


def test_regression_models_are_refused_when_built(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    # a configuration fault: the service reports it at start-up, not per request
    with pytest.raises(ExplainerError, match="classifiers"):
        AnchorsExplainer(
            census_schema, reference, BlackBox(additive_regression, output=OutputKind.regression)
        )


def test_disc_perc_must_be_percentiles(census_schema, reference) -> None:
    with pytest.raises(ExplainerError, match="disc_perc"):
        AnchorsExplainer(
            census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"]),
            {"disc_perc": (0, 50)},
        )  # fmt: skip


def test_readable() -> None:
    rule = [
        Condition(feature="age", operator=">", value=37.0),
        Condition(feature="age", operator="<=", value=48.0),
        Condition(feature="gender", operator="=", value="Male"),
    ]
    assert _readable(rule) == ["37 < age <= 48", "gender = Male"]


# --- against alibi 0.9.4, the reference engine ------------------------------------------


def alibi_anchor(schema: FeatureSchema, reference: pd.DataFrame, x: np.ndarray, perc) -> dict:
    """alibi's AnchorTabular (in .venv-reference) on the same data and the rule model: its
    answer (alibi's JSON) and the model calls it made."""
    theirs = reference_engines.alibi_anchors(
        schema, schema.to_numeric(reference[schema.names]), x, {"rule": True},
        fit={"disc_perc": list(perc)}, explain={"threshold": 0.95},
    )  # fmt: skip
    return {"explanation": theirs["explanations"][0], "calls": theirs["calls"][0]}


@pytest.mark.parametrize("age, hours", [(62, 50), (55, 60), (70, 45)])
def test_fewer_model_calls_than_alibi_for_the_rule_model(
    census_schema: FeatureSchema, reference: pd.DataFrame, age: int, hours: int
) -> None:
    instance = applicant(reference, 3, age=age, **{"hours-per-week": hours})
    ours_model = CountingRule()
    ours = AnchorsExplainer(
        census_schema, reference, BlackBox(ours_model, class_names=["no", "yes"]),
        {"disc_perc": DECILES},
    ).explain(instance)  # fmt: skip
    x = census_schema.to_numeric([census_schema.row_from_record(instance)])[0]
    theirs = alibi_anchor(census_schema, reference, x, DECILES)
    assert ours.cost.model_calls == ours_model.calls
    assert ours_model.calls < theirs["calls"], (ours_model.calls, theirs["calls"])
    assert {c.feature for c in ours.result.conditions} == {"age", "hours-per-week"}
    assert ours.fidelity.threshold_met and ours.fidelity.precision >= 0.95
    assert len(theirs["explanation"]["data"]["anchor"]) >= 1  # the reference found a rule too


# --- rules whose thresholds fall between the quartile edges -------------------------------

# age quartiles are 28, 37, 48 and hours-per-week's 40, 40, 45: each threshold lies between
RULES = [(43, 42), (33, 47)]


def _instances(age: float, hours: float) -> list[tuple[dict, str, dict[str, tuple[str, float]]]]:
    """(values, class, the true anchor: feature -> (operator, threshold)) for instances far
    from the thresholds, near them, and on each side of each."""
    both = {"age": (">", age), "hours-per-week": (">", hours)}
    return [
        ({"age": 62, "hours-per-week": 50}, "yes", both),
        ({"age": age + 2, "hours-per-week": hours + 3}, "yes", both),
        ({"age": age - 5, "hours-per-week": 60}, "no", {"age": ("<=", age)}),
        ({"age": 60, "hours-per-week": hours - 4}, "no", {"hours-per-week": ("<=", hours)}),
    ]


def _share(reference: pd.DataFrame, truth: dict[str, tuple[str, float]]) -> np.ndarray:
    mask = np.ones(len(reference), dtype=bool)
    for feature, (operator, threshold) in truth.items():
        values = reference[feature].to_numpy(dtype=float)
        mask &= values > threshold if operator == ">" else values <= threshold
    return mask


@pytest.mark.parametrize("age, hours", RULES)
def test_thresholds_between_bin_edges_are_found_within_one_data_step(
    census_schema: FeatureSchema, reference: pd.DataFrame, age: float, hours: float
) -> None:
    predict = conjunction(age, hours)
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(predict, class_names=["no", "yes"])
    )
    reference_rows = reference[census_schema.names].values.tolist()
    reference_class = np.where(predict(reference_rows)[:, 1] == 1, "yes", "no")
    for values, label, truth in _instances(age, hours):
        for seed in (0, 1, 2):
            explanation = explainer.explain(applicant(reference, 3, **values), {"seed": seed})
            result, fidelity = explanation.result, explanation.fidelity
            assert explanation.prediction.label == label
            assert fidelity.threshold_met, (values, seed, result.rule)
            assert {c.feature: c.operator for c in result.conditions} == {
                f: op for f, (op, _) in truth.items()
            }, (values, seed, result.rule)
            for c in result.conditions:
                threshold = truth[c.feature][1]
                step = data_step(reference[c.feature].to_numpy(dtype=float), threshold)
                assert abs(float(c.value) - threshold) <= step, (values, seed, result.rule)
            # re-measured independently: the model's class on the reference rows it describes
            described = np.ones(len(reference), dtype=bool)
            for c in result.conditions:
                described &= [_holds(c, v) for v in reference[c.feature]]
            assert (reference_class[described] == label).mean() >= 0.99
            true_share = _share(reference, truth).mean()
            assert abs(result.coverage - true_share) <= 0.2 * true_share
            assert described.mean() == pytest.approx(result.coverage)


def test_max_anchor_size_counts_predicates_so_a_range_takes_two(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """Positive iff 33 < age <= 52: the anchor is a range, two predicates on one feature;
    with max_anchor_size 1 it cannot be said, with 2 it is."""
    box = BlackBox(age_band(33, 52), class_names=["no", "yes"])
    instance = applicant(reference, 3, age=40)
    for limit in (1, 2):
        explainer = AnchorsExplainer(census_schema, reference, box, {"max_anchor_size": limit})
        explanation = explainer.explain(instance)
        assert len(explanation.result.conditions) <= limit
        assert explanation.fidelity.threshold_met == (limit == 2)
    assert explanation.result.rule == ["33 < age <= 52"]


def test_a_rule_describing_few_rows_is_flagged(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    box = BlackBox(conjunction(43, 42), class_names=["no", "yes"])
    instance = applicant(reference, 3, age=62, **{"hours-per-week": 50})
    explainer = AnchorsExplainer(census_schema, reference, box)
    plain = explainer.explain(instance).fidelity
    assert plain.min_coverage == 0.01 and not plain.low_coverage and plain.note is None
    # samples start with the real rows the rule describes, each used once
    assert 0 < plain.distinct_rows <= min(plain.reference_rows, plain.samples)
    flagged = explainer.explain(instance, {"min_coverage": 0.5}).fidelity
    assert flagged.low_coverage and flagged.min_coverage == 0.5
    assert "fewer than the 0.5 asked (min_coverage)" in flagged.note
    assert f"{flagged.reference_rows} of the {len(reference)} reference rows" in flagged.note


def test_a_category_that_looks_like_an_operator_is_a_plain_value() -> None:
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {"bracket": rng.choice([">50", "<=50"], 400), "score": rng.integers(0, 100, 400)}
    )
    schema = FeatureSchema.infer(data)

    def predict(rows):
        positive = np.array([row[0] == ">50" for row in rows], dtype=float)
        return np.column_stack([1 - positive, positive])

    explainer = AnchorsExplainer(schema, data, BlackBox(predict, class_names=["no", "yes"]))
    result = explainer.explain({"bracket": ">50", "score": 10}).result
    assert [c.model_dump() for c in result.conditions] == [
        {"feature": "bracket", "operator": "=", "value": ">50"}
    ]
    assert result.rule == ["bracket = >50"]


def test_numbers_keep_their_significant_digits() -> None:
    assert [_number(v) for v in (43.0, 0.00264, 12792.5, 1234567.5, -0.5)] == [
        "43",
        "0.00264",
        "12792.5",
        "1234567.5",
        "-0.5",
    ]


def _anchor(precision: float, lower: float, valid: bool, coverage: float = 0.2) -> Anchor:
    measurement = Measurement()
    n = 1000
    agree = np.arange(n) < round(precision * n)
    measurement.add(np.zeros((n, 1)), agree, real=600)
    return Anchor((0,), measurement, lower, 1.0, valid, coverage, donors=600)


def test_the_note_says_which_number_is_below_the_threshold() -> None:
    params = AnchorParams()
    close = _note(_anchor(0.954, 0.937, True), params, 3000)
    assert "precision 0.954 on 1000 samples reaches the threshold 0.95" in close
    assert "lower end of its 95% confidence interval, 0.937, is below it" in close
    # the empty rule is decided by its lower bound: refused though its precision passes
    refused = _note(_anchor(0.954, 0.937, False), params, 3000)
    assert "reaches the threshold" in refused and "not accepted" in refused
    assert "no rule" not in refused
    missed = _note(_anchor(0.90, 0.88, False), params, 3000)
    assert "no rule" in missed and "0.900" in missed
    assert _note(_anchor(1.0, 0.99, True), params, 3000) is None


def test_a_rule_that_describes_no_reference_row_is_always_flagged() -> None:
    """An instance beyond every reference value: its rule describes no reference row, and
    is flagged even with min_coverage 0."""
    data = pd.DataFrame({"score": np.arange(100.0), "colour": ["red", "blue"] * 50})
    schema = FeatureSchema.infer(data)

    def predict(rows):
        positive = np.array([row[0] > 120 for row in rows], dtype=float)
        return np.column_stack([1 - positive, positive])

    explainer = AnchorsExplainer(schema, data, BlackBox(predict, class_names=["no", "yes"]))
    explanation = explainer.explain({"score": 150.0, "colour": "red"}, {"min_coverage": 0})
    assert explanation.result.coverage == 0 and explanation.fidelity.reference_rows == 0
    assert explanation.fidelity.low_coverage
    assert "only 0 of the 100 reference rows" in explanation.fidelity.note
