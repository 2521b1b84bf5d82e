"""SHAP on an additive regression, where the exact values are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import BlackBox, FeatureSchema, OutputKind, ParameterError
from explainers.shapley import ShapExplainer
from tests.conftest import applicant
from tests.ground_truth import WEIGHTS, WORKCLASS, additive_regression, rule_classifier


@pytest.fixture(scope="module")
def additive_shap(census_schema: FeatureSchema, reference: pd.DataFrame) -> ShapExplainer:
    return ShapExplainer(
        census_schema, reference, BlackBox(additive_regression, output=OutputKind.regression)
    )


def phi(explanation) -> dict[str, float]:
    return {c.feature: c.shap for c in explanation.result.contributions}


def test_every_feature_gets_a_value_in_schema_order(
    additive_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    explanation = additive_shap.explain(applicant(reference, 5))
    assert [c.feature for c in explanation.result.contributions] == paths.FEATURES
    assert explanation.result.output == "value"


def test_additive_model_values_are_exact(
    additive_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    base = applicant(reference, 5, workclass="Private", age=30)
    older = dict(base, age=45)
    one, two = additive_shap.explain(base), additive_shap.explain(older)
    # the difference of phi for the one feature that differs is weight * difference ...
    assert phi(two)["age"] - phi(one)["age"] == pytest.approx(WEIGHTS["age"] * 15, abs=1e-6)
    # ... and nothing else moves
    for name in paths.FEATURES:
        if name != "age":
            assert phi(two)[name] == pytest.approx(phi(one)[name], abs=1e-6), name
    # features the model does not use get zero
    for name in set(paths.FEATURES) - set(WEIGHTS) - {"workclass"}:
        assert abs(phi(one)[name]) < 1e-6, name
    # exact value against the background: phi_i = w_i * (x_i - E_background[x_i])
    background = additive_shap._background
    weights = background.weights / background.weights.sum()
    mean_age = float(weights @ background.data[:, paths.FEATURES.index("age")])
    assert phi(one)["age"] == pytest.approx(2.0 * (30 - mean_age), abs=1e-6)
    codes = background.data[:, paths.FEATURES.index("workclass")].astype(int)
    categories = additive_shap.schema["workclass"].categories
    expected = WORKCLASS["Private"] - sum(
        w * WORKCLASS.get(categories[c], 0.0) for w, c in zip(weights, codes, strict=True)
    )
    assert phi(one)["workclass"] == pytest.approx(expected, abs=1e-6)
    for explanation in (one, two):
        assert explanation.fidelity.additivity_error < 1e-6
        assert explanation.fidelity.model_output == pytest.approx(explanation.prediction.value)


def test_categories_are_sent_whole(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    seen: list[list] = []

    def recording(rows):
        seen.extend(rows)
        return additive_regression(rows)

    explainer = ShapExplainer(
        census_schema, reference, BlackBox(recording, output=OutputKind.regression),
        {"nsamples": 200},
    )  # fmt: skip
    explainer.explain(applicant(reference, 7))
    assert len(seen) > 1000
    for j, feature in enumerate(census_schema.features):
        values = {row[j] for row in seen}
        if feature.is_categorical:
            assert values <= set(feature.categories), feature.name
        elif feature.integer:
            assert all(isinstance(v, int) for v in values), feature.name


def test_classifier_explains_the_predicted_class_or_the_one_asked(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    explainer = ShapExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"])
    )
    positive = applicant(reference, 3, age=62, **{"hours-per-week": 50})
    explanation = explainer.explain(positive)
    assert explanation.result.output == "yes"
    top = sorted(explanation.result.contributions, key=lambda c: -abs(c.shap))[:2]
    assert {c.feature for c in top} == {"age", "hours-per-week"}
    assert explanation.fidelity.additivity_error < 1e-6
    negative_view = explainer.explain(positive, {"output_class": "no"})
    assert negative_view.result.output == "no"
    assert negative_view.result.base_value == pytest.approx(1 - explanation.result.base_value)
    soft = ShapExplainer(
        explainer.schema, reference,
        BlackBox(lambda rows: 0.1 + 0.8 * rule_classifier(rows), class_names=["no", "yes"]),
    )  # fmt: skip
    logit = soft.explain(positive, {"link": "logit"})
    assert logit.fidelity.model_output == pytest.approx(np.log(0.9 / 0.1))
    assert logit.fidelity.additivity_error < 1e-6
    with pytest.raises(ParameterError) as info:
        explainer.explain(positive, {"output_class": "maybe"})
    assert info.value.field == "output_class"


def test_background_size_is_fixed_once_built(additive_shap: ShapExplainer, reference) -> None:
    with pytest.raises(ParameterError) as info:
        additive_shap.explain(applicant(reference), {"background_size": 50})
    assert info.value.field == "background_size"
    assert np.asarray(additive_shap._background.data).shape[0] == 10
