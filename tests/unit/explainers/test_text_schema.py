"""A text feature in the schema: inferred from ``text``, checked, never a number."""

from __future__ import annotations

import pandas as pd
import pytest

from explainers import FeatureKind, FeatureSchema, SchemaError
from explainers.errors import TextLimitError

REFERENCE = pd.DataFrame({"message": ["a refund", "great"], "label": ["x", "y"]})


def test_the_text_column_is_a_text_feature_with_its_limits() -> None:
    schema = FeatureSchema.infer(
        REFERENCE, target="label", text=["message"], overrides={"message": {"max_tokens": 3}}
    )
    (feature,) = schema.features
    assert feature.kind is FeatureKind.text and schema.text_feature is feature
    assert schema.normalise([["one two three"]]) == [["one two three"]]
    with pytest.raises(TextLimitError, match="max_text_tokens"):
        schema.normalise([["one two three four"]])
    with pytest.raises(SchemaError, match="no number"):
        schema.to_numeric([["a refund"]])


def test_an_unknown_text_column_is_named() -> None:
    with pytest.raises(SchemaError, match="review"):
        FeatureSchema.infer(REFERENCE, target="label", text=["review"])
