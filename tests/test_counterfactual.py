"""Counterfactuals on a threshold model: valid, immutable features untouched, minimal."""

from __future__ import annotations

import pandas as pd
import pytest

from explainers import BlackBox, FeatureSchema, OutputKind, ParameterError
from explainers.counterfactual import CounterfactualExplainer
from tests.conftest import IMMUTABLE, applicant
from tests.ground_truth import (
    THRESHOLD_FEATURES,
    additive_regression,
    threshold_classifier,
)


@pytest.fixture(scope="module")
def threshold_cf(census_schema: FeatureSchema, reference: pd.DataFrame) -> CounterfactualExplainer:
    return CounterfactualExplainer(
        census_schema, reference, BlackBox(threshold_classifier, class_names=["no", "yes"])
    )


@pytest.mark.parametrize("algorithm", ["genetic", "random"])
def test_threshold_model(threshold_cf, reference: pd.DataFrame, algorithm: str) -> None:
    instance = applicant(reference, 11, **{"capital-gain": 0, "education-num": 9})
    explanation = threshold_cf.explain(instance, {"algorithm": algorithm})
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
    explanation = explainer.explain(applicant(reference), {"algorithm": "random", "total": 2})
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
    explanation = explainer.explain(
        instance, {"algorithm": "random", "desired_range": (value + 20, value + 60)}
    )
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
    """dice-ml works on category texts; the model must still receive its own codes."""
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
    explanation = explainer.explain(instance, {"algorithm": "random", "total": 2})
    assert explanation.result.found, explanation.result.message
    for cf in explanation.result.counterfactuals:
        assert cf.valid and cf.values == {"plan": codes["pro"], "usage": 10}
        assert [(c.feature, c.to_value) for c in cf.changes] == [("plan", codes["pro"])]
