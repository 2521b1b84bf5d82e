"""``features.category_labels`` must name categorical features and their categories."""

from __future__ import annotations

import pandas as pd
import pytest

from explainer_service.errors import ConfigError
from explainer_service.runtime.category_labels import check_category_labels
from explainers import FeatureSchema

SCHEMA = FeatureSchema.infer(
    pd.DataFrame({"relationship": ["Husband", "Not-in-family"], "age": [30, 40]})
)


def test_labels_of_known_categories_pass() -> None:
    labels = {"relationship": {"Not-in-family": "not in a family"}}
    assert check_category_labels(SCHEMA, labels) == []


def test_a_category_the_data_lacks_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A sample of the reference data may lack a category; a misspelt one shows up here."""
    labels = {"relationship": {"Not-in-famly": "x", "Husband": "husband"}}
    assert check_category_labels(SCHEMA, labels) == ["relationship.Not-in-famly"]
    assert "relationship.Not-in-famly" in caplog.text


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ({"relation": {"Husband": "husband"}}, "'relation' is not a feature"),
        ({"age": {"30": "thirty"}}, "'age' is not categorical"),
    ],
)
def test_a_misspelt_label_stops_start_up(labels: dict, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_category_labels(SCHEMA, labels)
    assert said in str(refused.value)
