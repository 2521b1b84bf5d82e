"""Anchors on models whose true rule is known, and against alibi 0.9.4 as a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainers import BlackBox, ExplainerError, FeatureSchema, OutputKind
from explainers.anchors import AnchorsExplainer, _readable
from explainers.explanation import Condition
from tests.conftest import applicant
from tests.ground_truth import additive_regression, rule_classifier

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


def alibi_anchor(schema: FeatureSchema, reference: pd.DataFrame, predict, x: np.ndarray, perc):
    """alibi's AnchorTabular on the same data and model; (rule features, calls)."""
    from alibi.explainers import AnchorTabular

    counted = CountingRule() if predict is None else predict
    matrix = schema.to_numeric(reference[schema.names])

    def classes(rows: np.ndarray) -> np.ndarray:
        return np.argmax(counted(schema.to_wire(rows)), axis=1)

    explainer = AnchorTabular(
        classes, feature_names=schema.names, categorical_names=schema.categorical_names, seed=0
    )
    explainer.fit(matrix, disc_perc=perc)
    counted.calls = counted.rows = 0
    found = explainer.explain(x, threshold=0.95)
    return found, counted


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
    theirs, alibi_model = alibi_anchor(census_schema, reference, CountingRule(), x, DECILES)
    assert ours.cost.model_calls == ours_model.calls
    assert ours_model.calls < alibi_model.calls, (ours_model.calls, alibi_model.calls)
    assert {c.feature for c in ours.result.conditions} == {"age", "hours-per-week"}
    assert ours.fidelity.threshold_met and ours.fidelity.precision >= 0.95
    assert len(theirs.anchor) >= 1  # the reference engine found a rule too
