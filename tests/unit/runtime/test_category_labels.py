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
    check_category_labels(SCHEMA, {"relationship": {"Not-in-family": "not in a family"}})


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ({"relation": {"Husband": "husband"}}, "'relation' is not a feature"),
        ({"age": {"30": "thirty"}}, "'age' is not categorical"),
        ({"relationship": {"Not-in-famly": "x"}}, "['Not-in-famly'] are not among"),
    ],
)
def test_a_misspelt_label_stops_start_up(labels: dict, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_category_labels(SCHEMA, labels)
    assert said in str(refused.value)
