"""Anchors on a rule classifier whose true rule is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainers import BlackBox, ExplainerError, FeatureSchema, OutputKind
from explainers.anchors import AnchorsExplainer, _lower_bound, _readable, _simplify
from explainers.explanation import Condition
from tests.conftest import applicant
from tests.ground_truth import additive_regression, rule_classifier

DECILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


@pytest.fixture(scope="module")
def rule_anchors(census_schema: FeatureSchema, reference: pd.DataFrame) -> AnchorsExplainer:
    # deciles put a bin edge above 50 for age and above 40 for hours, so the true rule
    # (age > 50 and hours > 40) can be expressed exactly
    return AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"]),
        {"disc_perc": DECILES},
    )  # fmt: skip


def test_rule_classifier_anchor_names_exactly_the_two_features(
    rule_anchors: AnchorsExplainer, reference: pd.DataFrame
) -> None:
    explanation = rule_anchors.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    assert explanation.prediction.label == "yes"
    result, fidelity = explanation.result, explanation.fidelity
    assert {c.feature for c in result.conditions} == {"age", "hours-per-week"}
    assert result.precision == 1.0 and fidelity.precision == 1.0
    assert fidelity.threshold_met and not fidelity.extended
    for condition in result.conditions:  # every bound implies the rule's own
        if condition.feature == "age" and condition.operator == ">":
            assert condition.value >= 50
        if condition.feature == "hours-per-week" and condition.operator == ">":
            assert condition.value >= 40
    assert all(ex["age"] > 50 and ex["hours-per-week"] > 40 for ex in result.examples_hold), (
        result.examples_hold
    )
    assert 0 < result.coverage < 0.2
    assert explanation.cost.model_calls >= 3 and explanation.cost.rows > 100


def test_coarse_bins_are_extended_until_the_rule_is_precise(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """With quartiles no bin says age > 50; the anchor must still hold on fresh samples."""
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"])
    )
    explanation = explainer.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    fidelity = explanation.fidelity
    assert fidelity.threshold_met, fidelity
    assert fidelity.precision >= 0.95
    assert {c.feature for c in explanation.result.conditions} >= {"age", "hours-per-week"}


def test_an_anchor_below_the_threshold_says_so(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """Quartile bins cannot express age > 50; without extension the rule is imprecise."""
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"]),
        {"refine": False},
    )  # fmt: skip
    explanation = explainer.explain(applicant(reference, 3, age=62, **{"hours-per-week": 50}))
    fidelity = explanation.fidelity
    assert not fidelity.extended
    assert fidelity.precision < 0.95 and not fidelity.threshold_met
    assert "below the threshold" in fidelity.note
    # the precision is measured, not copied from alibi's search
    assert fidelity.precision != fidelity.search_precision_estimate


def test_regression_models_are_refused(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(additive_regression, output=OutputKind.regression)
    )
    with pytest.raises(ExplainerError, match="classifiers"):
        explainer.explain(applicant(reference))


def test_simplify_and_readable() -> None:
    rule = [
        Condition(feature="age", operator=">", value=28.0),
        Condition(feature="gender", operator="=", value="Male"),
        Condition(feature="age", operator=">", value=37.0),
        Condition(feature="age", operator="<=", value=48.0),
    ]
    simple = _simplify(rule)
    assert [(c.feature, c.operator, c.value) for c in simple] == [
        ("age", ">", 37.0), ("age", "<=", 48.0), ("gender", "=", "Male"),
    ]  # fmt: skip
    assert _readable(simple) == ["37 < age <= 48", "gender = Male"]


def test_lower_bound() -> None:
    assert _lower_bound(1.0, 1000, 0.99) > 0.99
    assert _lower_bound(0.95, 100, 0.99) < 0.95 < _lower_bound(0.99, 1000, 0.99)
    assert np.isclose(_lower_bound(0.5, 10**8, 0.99), 0.5, atol=1e-3)
