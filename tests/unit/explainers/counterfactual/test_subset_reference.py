"""Counterfactuals against reference rows that hold only some of the schema's categories
(a window of logged traffic: the schema comes from another, fuller file): the instance's
categories may be ones the rows never show."""

from __future__ import annotations

import pandas as pd
import pytest

from explainers import BlackBox, FeatureSchema
from explainers.counterfactual.explainer import CounterfactualExplainer
from tests.conftest import applicant
from tests.helpers.ground_truth import threshold_classifier


@pytest.fixture(scope="module")
def schooled(reference: pd.DataFrame) -> pd.DataFrame:
    """The applicants with 15 years of education or more: no HS-grad, no Farming-fishing."""
    rows = reference[reference["education-num"] >= 15].reset_index(drop=True)
    assert "HS-grad" not in set(rows["education"])
    assert "Farming-fishing" not in set(rows["occupation"])
    return rows


def test_an_instance_whose_categories_the_rows_lack(
    census_schema: FeatureSchema, reference: pd.DataFrame, schooled: pd.DataFrame
) -> None:
    explainer = CounterfactualExplainer(
        census_schema,
        schooled,
        BlackBox(threshold_classifier, class_names=["no", "yes"]),
    )
    instance = applicant(
        reference, 11, education="HS-grad", occupation="Farming-fishing", **{"capital-gain": 0}
    )
    # far from every schooled row, so implausible: searched, kept and flagged (keep_invalid)
    params = {"total": 2, "keep_invalid": True}
    explanation = explainer.explain(instance, params)
    assert explanation.prediction is not None and explanation.prediction.label == "no"
    assert explanation.result.counterfactuals, explanation.result
    for cf in explanation.result.counterfactuals:
        rows = [[cf.values[name] for name in census_schema.names]]
        assert cf.valid and threshold_classifier(rows)[0, 1] == 1.0
        assert not cf.plausible  # measured against the schooled rows alone
