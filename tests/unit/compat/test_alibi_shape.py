"""Explanations of the income model in alibi's shape: alibi's keys (recorded from alibi 0.9.4,
``tests/helpers/alibi_recorded.py``, which ``test_alibi_recorded.py`` checks against alibi
itself in ``.venv-reference``), values that agree with the explanation, and what alibi's
``Explanation.from_json`` reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainer_service.compat.alibi_params import from_alibi
from explainer_service.compat.alibi_shape import to_alibi
from explainer_service.errors import PayloadError
from explainers import BlackBox, Explanation, FeatureSchema
from explainers.anchors.explainer import AnchorsExplainer
from explainers.counterfactual.explainer import CounterfactualExplainer
from explainers.importance.explainer import ImportanceExplainer
from explainers.shap.explainer import ShapExplainer
from tests.conftest import applicant
from tests.helpers import alibi_recorded as defaults
from tests.helpers.alibi_recorded import ANCHOR_TABULAR_KEYS, AlibiExplanation

CLASSES = paths.CLASS_NAMES


@pytest.fixture(scope="module")
def box(income_pipeline) -> BlackBox:
    def predict(rows):
        frame = pd.DataFrame(rows, columns=paths.FEATURES)
        return np.asarray(income_pipeline.predict_proba(frame))

    return BlackBox(predict, class_names=CLASSES)


def alibi_shape(explanation: Explanation, schema: FeatureSchema) -> dict:
    shaped = to_alibi(
        explanation, id="abc", links={"json": "/x"}, names=schema.names, class_names=CLASSES
    )
    parsed = AlibiExplanation.from_json(json.dumps(shaped))  # what MLServer's clients call
    assert parsed.meta == shaped["meta"] and parsed.data == shaped["data"]
    return shaped


def test_anchors_in_alibi_shape(census_schema, reference, box) -> None:
    instance = applicant(reference, 3)
    explanation = AnchorsExplainer(census_schema, reference, box).explain(instance)
    shaped = alibi_shape(explanation, census_schema)
    theirs = ANCHOR_TABULAR_KEYS  # alibi 0.9.4's AnchorTabular answer
    data, raw = shaped["data"], shaped["data"]["raw"]
    assert set(data) == set(theirs["data"]) == set(defaults.DEFAULT_DATA_ANCHOR)
    assert set(shaped["meta"]) >= set(theirs["meta"])
    # what alibi reports per prefix of the rule is not measured here: left out, not made up
    assert set(raw) == set(theirs["raw"]) - {"mean", "precision", "coverage"}
    assert set(raw["examples"][0]) == set(theirs["examples"])
    result = explanation.result
    assert data["anchor"] == raw["names"] == result.rule
    assert data["precision"] == result.precision and data["coverage"] == result.coverage
    named = [census_schema.names[i] for i in raw["feature"]]
    assert set(named) == {c.feature for c in result.conditions} and len(named) == len(result.rule)
    assert raw["instance"] == [instance[n] for n in census_schema.names]
    assert raw["prediction"] == [CLASSES.index(explanation.prediction.label)]
    assert raw["success"] == explanation.fidelity.threshold_met
    assert len(raw["examples"][0]["covered_true"]) == len(result.examples_hold)
    assert shaped["meta"]["name"] == "AnchorTabular"
    assert shaped["meta"]["explainer_service"]["fidelity"]["samples"] > 0


def test_shap_in_alibi_shape_gives_both_classes(census_schema, reference, box) -> None:
    instance = applicant(reference, 5)
    explanation = ShapExplainer(census_schema, reference, box, {"nsamples": 200}).explain(instance)
    shaped = alibi_shape(explanation, census_schema)
    data = shaped["data"]
    assert set(data) == set(defaults.DEFAULT_DATA_KERNEL_SHAP)
    assert set(data["raw"]) == set(defaults.DEFAULT_DATA_KERNEL_SHAP["raw"])
    assert set(shaped["meta"]) >= set(defaults.DEFAULT_META_KERNEL_SHAP)
    assert shaped["meta"]["task"] == "classification"
    explained = CLASSES.index(explanation.result.output)
    values = [c.shap for c in explanation.result.contributions]
    assert data["shap_values"][explained] == [values]
    assert data["feature_names"] == census_schema.names
    probabilities = data["raw"]["raw_prediction"][0]
    assert probabilities == [explanation.prediction.probabilities[c] for c in CLASSES]
    # each class's values add up to its own probability, the class not explained included
    for k in range(2):
        total = data["expected_value"][k] + sum(data["shap_values"][k][0])
        assert total == pytest.approx(probabilities[k], abs=1e-6), k
    ranked = data["raw"]["importances"][str(explained)]
    assert (
        ranked["names"][0]
        == max(explanation.result.contributions, key=lambda c: abs(c.shap)).feature
    )
    assert set(data["raw"]["importances"]) == {"0", "1", "aggregated"}


def test_counterfactuals_and_importance_in_alibi_shape(census_schema, reference, box) -> None:
    instance = applicant(reference, 3)
    explainer = CounterfactualExplainer(census_schema, reference, box)
    explanation = explainer.explain(instance, {"total": 2})
    shaped = alibi_shape(explanation, census_schema)
    data = shaped["data"]
    assert set(data) == set(defaults.DEFAULT_DATA_CF)
    assert data["orig_class"] == CLASSES.index(explanation.prediction.label)
    assert data["success"] == explanation.result.found
    found = explanation.result.counterfactuals
    assert len(data["all"]["0"]) == len(found)
    if found:
        first = found[0]
        assert data["cf"]["X"] == [[first.values[n] for n in census_schema.names]]
        assert data["cf"]["class"] == CLASSES.index(first.prediction.label)

    importance = ImportanceExplainer(
        census_schema, reference, box, {"rows": 200, "iterations": 2}, target="loan"
    ).explain(None)
    shaped = alibi_shape(importance, census_schema)
    assert set(shaped["data"]) == set(defaults.DEFAULT_DATA_PERMUTATION_IMPORTANCE)
    assert shaped["meta"]["explanations"] == ["global"]
    means = [f["mean"] for f in shaped["data"]["feature_importance"][0]]
    assert means == [f.mean for f in importance.result.features]


def test_alibi_parameters_are_renamed_ignored_or_passed_on() -> None:
    params, ignored = from_alibi(
        "anchors", {"threshold": 0.9, "delta": 0.1, "tau": 0.2, "n_covered_ex": 5}, CLASSES
    )
    assert params == {"threshold": 0.9, "confidence": pytest.approx(0.9), "examples": 5}
    assert ignored == ["tau"]
    params, ignored = from_alibi("counterfactual", {"target_class": [1], "k": 3}, CLASSES)
    assert params == {"desired_class": CLASSES[1]} and ignored == ["k"]
    assert from_alibi("shap", {"nsamples": 100, "l1_reg": "auto"}, CLASSES) == (
        {"nsamples": 100},
        ["l1_reg"],
    )
    with pytest.raises(PayloadError, match="target_class 7"):
        from_alibi("counterfactual", {"target_class": 7}, CLASSES)
    with pytest.raises(PayloadError, match="must be an object"):
        from_alibi("anchors", [0.9], CLASSES)
    with pytest.raises(PayloadError, match="'delta' has the wrong type"):
        from_alibi("anchors", {"delta": "small"}, CLASSES)
