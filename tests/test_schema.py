"""FeatureSchema: inference from reference data and conversions between the two spaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from explainers import (
    Feature,
    FeatureKind,
    FeatureSchema,
    InvalidValueError,
    MissingFeatureError,
    SchemaError,
    UnexpectedFeatureError,
    UnknownCategoryError,
    WireFormat,
)

DATA = pd.DataFrame(
    {
        "age": [25, 38, 52, 71],
        "workclass": ["Private", "State-gov", "Private", "Self-emp"],
        "score": [0.5, 1.25, -3.0, 2.0],
        "gender": ["Male", "Female", "Female", "Male"],
        "loan": ["<=50K", ">50K", ">50K", "<=50K"],
    }
)


@pytest.fixture
def schema() -> FeatureSchema:
    return FeatureSchema.infer(DATA, target="loan", immutable=["age", "gender"])


def test_inference(schema: FeatureSchema) -> None:
    assert schema.names == ["age", "workclass", "score", "gender"]
    age, workclass, score, _ = schema.features
    assert (age.kind, age.integer, age.min, age.max) == (FeatureKind.numeric, True, 25, 71)
    assert (score.kind, score.integer) == (FeatureKind.numeric, False)
    assert workclass.categories == ["Private", "Self-emp", "State-gov"]  # sorted: stable codes
    assert schema.immutable == ["age", "gender"]
    assert schema.categorical_names == {
        1: ["Private", "Self-emp", "State-gov"],
        3: ["Female", "Male"],
    }


def test_income_reference_gives_seven_categorical_and_five_numeric(reference: pd.DataFrame) -> None:
    schema = FeatureSchema.infer(reference, target="loan")
    kinds = [f.kind for f in schema.features]
    assert kinds.count(FeatureKind.categorical) == 7 and kinds.count(FeatureKind.numeric) == 5
    encoded = schema.to_numeric(reference[schema.names])
    assert schema.to_wire(encoded) == reference[schema.names].values.tolist()


def test_overrides_and_explicit_categorical() -> None:
    schema = FeatureSchema.infer(
        DATA,
        target="loan",
        categorical=["workclass", "gender", "age"],
        overrides={"workclass": {"wire": "code"}, "score": {"min": -10.0}},
    )
    assert schema["age"].kind is FeatureKind.categorical
    assert schema["age"].categories == ["25", "38", "52", "71"]
    assert schema["workclass"].wire is WireFormat.code
    assert schema["score"].min == -10.0


def test_configuration_naming_an_unknown_feature_is_refused() -> None:
    with pytest.raises(SchemaError) as info:
        FeatureSchema.infer(DATA, target="loan", immutable=["agee"])
    assert info.value.feature == "agee"


def test_to_numeric_and_back(schema: FeatureSchema) -> None:
    rows = [[52, "State-gov", 1.5, "Male"], [25, "Private", -3.0, "Female"]]
    encoded = schema.to_numeric(rows)
    np.testing.assert_array_equal(encoded, [[52, 2, 1.5, 1], [25, 0, -3.0, 0]])
    assert schema.to_wire(encoded) == rows


def test_wire_codes() -> None:
    schema = FeatureSchema(
        features=[Feature(name="c", kind="categorical", categories=["a", "b"], wire="code")]
    )
    assert schema.to_wire(np.array([[1.0]])) == [[1]]
    np.testing.assert_array_equal(schema.to_numeric([[1], ["a"]]), [[1.0], [0.0]])
    with pytest.raises(UnknownCategoryError):
        schema.to_numeric([[2]])


def test_decode_rounds_and_clips(schema: FeatureSchema) -> None:
    assert schema.to_wire(np.array([[30.6, 2.7, 0.1, -0.4]])) == [[31, "State-gov", 0.1, "Female"]]
    assert schema.to_wire(np.array([[30.0, 9.0, 0.0, 5.0]]))[0][1] == "State-gov"


def test_unknown_category_names_feature_and_valid_values(schema: FeatureSchema) -> None:
    with pytest.raises(UnknownCategoryError) as info:
        schema.to_numeric([[30, "Never-worked", 1.0, "Male"]])
    assert info.value.feature == "workclass"
    assert "'Private', 'Self-emp', 'State-gov'" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", None, True, [1]])
def test_invalid_numbers_are_refused(schema: FeatureSchema, bad: object) -> None:
    with pytest.raises(InvalidValueError) as info:
        schema.to_numeric([[bad, "Private", 1.0, "Male"]])
    assert info.value.feature == "age"


def test_wrong_row_length(schema: FeatureSchema) -> None:
    with pytest.raises(SchemaError, match="3 values; the schema has 4"):
        schema.to_numeric([[1, "Private", 1.0]])


def test_records(schema: FeatureSchema) -> None:
    record = {"gender": "Male", "age": 30, "score": 1.0, "workclass": "Private"}
    assert schema.row_from_record(record) == [30, "Private", 1.0, "Male"]
    with pytest.raises(MissingFeatureError) as missing:
        schema.row_from_record({"age": 30})
    assert missing.value.feature == "workclass"
    with pytest.raises(UnexpectedFeatureError) as extra:
        schema.row_from_record({**record, "zip": "12345"})
    assert extra.value.feature == "zip"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "c", "kind": "categorical"},
        {"name": "c", "kind": "categorical", "categories": ["a", "a"]},
        {"name": "n", "kind": "numeric", "min": 2, "max": 1},
    ],
)
def test_invalid_features(fields: dict) -> None:
    with pytest.raises(ValidationError):
        Feature(**fields)


def test_duplicate_names_refused() -> None:
    with pytest.raises(ValidationError, match="unique"):
        FeatureSchema(features=[Feature(name="a", kind="numeric")] * 2)


@settings(max_examples=100, deadline=None)
@given(
    categories=st.lists(st.text(min_size=1), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_property_wire_numeric_wire(categories: list[str], data: st.DataObject) -> None:
    schema = FeatureSchema(
        features=[
            Feature(name="cat", kind="categorical", categories=categories),
            Feature(name="int", kind="numeric", integer=True),
            Feature(name="float", kind="numeric"),
        ]
    )
    rows = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(categories),
                st.integers(-(10**9), 10**9),
                st.floats(allow_nan=False, allow_infinity=False, width=64),
            ).map(list),
            max_size=10,
        )
    )
    assert schema.to_wire(schema.to_numeric(rows)) == rows
    assert schema.to_numeric(rows).shape == (len(rows), 3)
