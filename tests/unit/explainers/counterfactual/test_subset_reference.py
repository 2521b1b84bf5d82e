"""Counterfactuals against reference rows that hold only some of the schema's categories
(a window of logged traffic: the schema comes from another, fuller file): the instance's
categories and the ranges dice-ml is given may be ones the rows never show."""

from __future__ import annotations

import pandas as pd
import pytest

from explainers import BlackBox, FeatureSchema
from explainers.counterfactual.explainer import (
    CounterfactualExplainer,
    to_dice,
    with_every_category,
)
from tests.conftest import applicant
from tests.helpers.ground_truth import threshold_classifier


@pytest.fixture(scope="module")
def schooled(reference: pd.DataFrame) -> pd.DataFrame:
    """The applicants with 15 years of education or more: no HS-grad, no Farming-fishing."""
    rows = reference[reference["education-num"] >= 15].reset_index(drop=True)
    assert "HS-grad" not in set(rows["education"])
    assert "Farming-fishing" not in set(rows["occupation"])
    return rows


def test_dice_data_gets_every_category_and_nothing_else(
    census_schema: FeatureSchema, reference: pd.DataFrame, schooled: pd.DataFrame
) -> None:
    full = to_dice(census_schema, census_schema.to_numeric(reference[census_schema.names]))
    assert with_every_category(full, census_schema) is full  # the file's rows lack none
    frame = to_dice(census_schema, census_schema.to_numeric(schooled[census_schema.names]))
    completed = with_every_category(frame, census_schema)
    assert completed.iloc[: len(frame)].equals(frame)
    for feature in census_schema.features:
        if feature.is_categorical:
            assert set(completed[feature.name]) == set(feature.categories), feature.name
    added = completed.iloc[len(frame) :]
    assert len(added) == sum(
        len(set(f.categories) - set(frame[f.name]))
        for f in census_schema.features
        if f.is_categorical
    )
    assert list(completed.dtypes) == list(frame.dtypes)


@pytest.mark.parametrize("algorithm", ["genetic", "random"])
def test_an_instance_whose_categories_the_rows_lack(
    census_schema: FeatureSchema, reference: pd.DataFrame, schooled: pd.DataFrame, algorithm: str
) -> None:
    explainer = CounterfactualExplainer(
        census_schema,
        schooled,
        BlackBox(threshold_classifier, class_names=["no", "yes"]),
    )
    instance = applicant(
        reference, 11, education="HS-grad", occupation="Farming-fishing", **{"capital-gain": 0}
    )
    # far from every schooled row, so implausible: kept, flagged, to be looked at
    params = {"algorithm": algorithm, "total": 2, "keep_invalid": True}
    explanation = explainer.explain(instance, params)
    assert explanation.prediction is not None and explanation.prediction.label == "no"
    assert explanation.result.counterfactuals, explanation.result
    for cf in explanation.result.counterfactuals:
        rows = [[cf.values[name] for name in census_schema.names]]
        assert cf.valid and threshold_classifier(rows)[0, 1] == 1.0
        assert not cf.plausible  # measured against the schooled rows alone
