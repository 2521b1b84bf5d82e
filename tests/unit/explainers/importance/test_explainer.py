"""Permutation importance: features the model ignores are worth exactly nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import BlackBox, ExplainerError, FeatureSchema, OutputKind
from explainers.importance.explainer import ImportanceExplainer
from tests.helpers.ground_truth import additive_regression, column, rule_classifier


def test_rule_classifier_importance(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    labelled = reference.copy()
    truth = rule_classifier(labelled[paths.FEATURES].values.tolist())[:, 1]
    labelled["loan"] = ["yes" if t else "no" for t in truth]
    explainer = ImportanceExplainer(
        census_schema, labelled, BlackBox(rule_classifier, class_names=["no", "yes"]),
        {"rows": 500, "iterations": 3}, target="loan",
    )  # fmt: skip
    explanation = explainer.explain(None)
    assert explanation.instance is None and explanation.prediction is None
    result = explanation.result
    assert result.baseline_score == 1.0 and result.scoring == "accuracy"
    by_name = {f.feature: f for f in result.features}
    assert by_name["age"].mean > 0 and by_name["hours-per-week"].mean > 0
    for name in set(paths.FEATURES) - {"age", "hours-per-week"}:
        assert by_name[name].mean == 0 and by_name[name].std == 0, name
    assert [f.feature for f in result.features[:2]] in (
        ["age", "hours-per-week"], ["hours-per-week", "age"],
    )  # fmt: skip
    assert explanation.cost.model_calls == 1 + 3 * len(paths.FEATURES)
    # a shuffle leaves many rows as they were (same value drawn); those are not sent again
    assert 500 < explanation.cost.rows < 500 * explanation.cost.model_calls


def test_needs_labels(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    with pytest.raises(ExplainerError, match="labelled"):
        ImportanceExplainer(
            census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"])
        )


def age_band(rows: list[list]) -> np.ndarray:
    """Probabilities of the classes 2, 3 and 10, in that order: 2 under 30, 3 under 45."""
    age = column(rows, "age").astype(float)
    band = np.where(age < 30, 0, np.where(age < 45, 1, 2))
    return np.eye(3)[band]


def test_numeric_labels_are_read_in_the_models_order(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    """Without class names, labels 2, 3, 10 name the model's columns in numeric order."""
    labelled = reference.copy()
    labelled["loan"] = [(2, 3, 10)[i] for i in age_band(labelled[paths.FEATURES].values).argmax(1)]
    explainer = ImportanceExplainer(
        census_schema, labelled, BlackBox(age_band), {"rows": 300, "iterations": 2}, target="loan"
    )
    result = explainer.explain(None).result
    assert result.baseline_score == 1.0
    assert result.features[0].feature == "age" and result.features[0].mean > 0


def test_a_regression_is_scored_by_r2(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    labelled = reference.copy()
    labelled["loan"] = additive_regression(labelled[paths.FEATURES].values.tolist())
    explainer = ImportanceExplainer(
        census_schema,
        labelled,
        BlackBox(additive_regression, output=OutputKind.regression),
        {"rows": 300, "iterations": 2},
        target="loan",
    )
    result = explainer.explain(None).result
    assert result.scoring == "r2" and result.baseline_score == pytest.approx(1.0)
    by_name = {f.feature: f.mean for f in result.features}
    assert by_name["age"] > 0 and by_name["gender"] == 0
    labelled["loan"] = "high"
    with pytest.raises(ExplainerError, match="must hold a number"):
        ImportanceExplainer(
            census_schema,
            labelled,
            BlackBox(additive_regression, output=OutputKind.regression),
            target="loan",
        )
