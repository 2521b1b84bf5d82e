"""Class names in the model's order: numbers by value, text as sorted text, configured first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainers import infer_class_names


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["2", "3", "10"], ["2", "3", "10"]),  # as text, "10" < "2"
        ([10, 2, 3, 2, 10], ["2", "3", "10"]),
        (["10", "2", "3"], ["2", "3", "10"]),
        ([1.5, -2, 0], ["-2", "0", "1.5"]),
        (["1", "0", "1"], ["0", "1"]),
        ([">50K", "<=50K"], ["<=50K", ">50K"]),  # text: scikit-learn's order
        (["b", "a", "10", "9"], ["10", "9", "a", "b"]),  # not all numbers: text
        (["nan", "1"], ["1", "nan"]),  # "nan" is a name, not a number
        ([True, False], ["False", "True"]),
    ],
)
def test_inferred_from_labels(labels: list, expected: list[str]) -> None:
    assert infer_class_names(labels) == expected


def test_missing_labels_are_no_class() -> None:
    labels = pd.Series([3, np.nan, 10, None, 2], dtype=object)
    assert infer_class_names(labels) == ["2", "3", "10"]
    assert infer_class_names(pd.Series([2.0, np.nan, 10.0])) == ["2.0", "10.0"]


def test_the_configured_names_win() -> None:
    assert infer_class_names(["2", "3", "10"], ["10", "2", "3"]) == ["10", "2", "3"]
    assert infer_class_names([], ["b", "a"]) == ["b", "a"]
    assert infer_class_names([]) == []
