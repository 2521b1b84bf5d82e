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
from explainers.errors import shown
from explainers.schema import number_text

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
    assert schema["age"].wire is WireFormat.value  # a numeric column: the numbers travel
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


WIRE_KINDS = FeatureSchema(
    features=[
        Feature(name="whole", kind="numeric", integer=True),
        Feature(name="real", kind="numeric"),
        Feature(name="named", kind="categorical", categories=["a", "b", "c"]),
        Feature(name="coded", kind="categorical", categories=["a", "b", "c"], wire="code"),
        Feature(name="valued", kind="categorical", categories=["1", "2.5", "4"], wire="value"),
    ]
)


def one_by_one(schema: FeatureSchema, matrix: np.ndarray) -> list[list]:
    """``to_wire`` as it was: ``decode`` for every value."""
    return [[f.decode(x) for f, x in zip(schema.features, row, strict=True)] for row in matrix]


@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(-1e18, 1e18, allow_nan=False),
                st.integers(-3, 6).map(lambda k: k / 2),  # halves: rounding to even
                st.just(-0.0),
            ),
            min_size=5,
            max_size=5,
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_to_wire_by_column_gives_what_decode_gives(rows: list[list[float]]) -> None:
    matrix = np.array(rows)
    wire = WIRE_KINDS.to_wire(matrix)
    expected = one_by_one(WIRE_KINDS, matrix)
    assert wire == expected
    assert [[type(v) for v in row] for row in wire] == [[type(v) for v in row] for row in expected]


@pytest.mark.parametrize("odd", [np.nan, np.inf, 2.0**60])
def test_to_wire_of_values_no_column_decodes_exactly_goes_one_by_one(odd: float) -> None:
    matrix = np.array([[odd, 1.5, 0.0, 1.0, 2.0]])
    if np.isnan(odd) or np.isinf(odd):
        with pytest.raises((ValueError, OverflowError)):  # round() of what is no number
            one_by_one(WIRE_KINDS, matrix)
        with pytest.raises((ValueError, OverflowError)):
            WIRE_KINDS.to_wire(matrix)
    else:
        assert (
            WIRE_KINDS.to_wire(matrix)
            == one_by_one(WIRE_KINDS, matrix)
            == [[2**60, 1.5, "a", 1, 4]]
        )


def test_unknown_category_names_feature_and_valid_values(schema: FeatureSchema) -> None:
    with pytest.raises(UnknownCategoryError) as info:
        schema.to_numeric([[30, "Never-worked", 1.0, "Male"]])
    assert info.value.feature == "workclass"
    assert "'Private', 'Self-emp', 'State-gov'" in str(info.value)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (-float("inf"), "finite"),
        (10**400, "finite"),  # too large for a float
        (39.5, "whole number"),  # age is an integer feature: the model could not receive it
        ("39", "expected a number"),  # text, even of a number
        ("abc", "expected a number"),
        (None, "expected a number"),
        (True, "expected a number"),
        ([1], "expected a number"),
        ({"a": 1}, "expected a number"),
    ],
)
def test_invalid_numbers_are_refused(schema: FeatureSchema, bad: object, reason: str) -> None:
    with pytest.raises(InvalidValueError, match=reason) as info:
        schema.to_numeric([[bad, "Private", 1.0, "Male"]])
    assert info.value.feature == "age"
    with pytest.raises(InvalidValueError, match=reason):
        schema.normalise([[bad, "Private", 1.0, "Male"]])


def test_numbers_in_every_numeric_spelling(schema: FeatureSchema) -> None:
    rows = [[39, "Private", 1, "Male"], [39.0, "Private", np.float32(1.0), "Male"]]
    assert schema.normalise(rows) == [[39, "Private", 1.0, "Male"]] * 2
    assert schema.normalise([[np.int64(39), "Private", 0.25, "Male"]])[0][2] == 0.25


def test_messages_cut_what_the_caller_sent(schema: FeatureSchema) -> None:
    with pytest.raises(UnknownCategoryError) as info:
        schema.to_numeric([[30, "x" * 100_000, 1.0, "Male"]])
    assert len(str(info.value)) < 300 and info.value.feature == "workclass"
    with pytest.raises(UnexpectedFeatureError) as extra:
        schema.row_from_record({"age": 30, "workclass": "Private", "score": 1.0, "gender": "Male",
                                "y" * 100_000: 1})  # fmt: skip
    assert len(str(extra.value)) < 300


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


# --- categories that are numbers, and codes ---------------------------------------------------

CODED = pd.DataFrame(
    {
        "plan": [10, 2, 5, 2, 10, 1],  # codes that are not 0..k-1; "10" < "2" as text
        "level": [0.0, 3.0, 1.0, 2.0, 3.0, 0.0],  # an index into named categories, as FP64
        "rate": [0.5, 1.5, 0.5, 2.25, 1.5, 0.5],
    }
)
LEVELS = ["low", "mid", "high", "top"]


@pytest.fixture
def coded() -> FeatureSchema:
    return FeatureSchema.infer(
        CODED,
        categorical=["plan", "rate"],
        overrides={"level": {"wire": "code", "categories": LEVELS}},
    )


def test_numeric_categories_sort_as_numbers_and_travel_as_themselves(
    coded: FeatureSchema,
) -> None:
    plan, level, rate = coded.features
    assert (plan.categories, plan.wire) == (["1", "2", "5", "10"], WireFormat.value)
    assert (rate.categories, rate.wire) == (["0.5", "1.5", "2.25"], WireFormat.value)
    assert (level.kind, level.categories, level.wire) == (
        FeatureKind.categorical,
        LEVELS,
        WireFormat.code,
    )
    encoded = coded.to_numeric(CODED.values.tolist())
    np.testing.assert_array_equal(encoded[:, 0], [3, 1, 2, 1, 3, 0])  # indexes, not values
    np.testing.assert_array_equal(encoded[:, 1], [0, 3, 1, 2, 3, 0])
    wire = coded.to_wire(encoded)
    assert [row[0] for row in wire] == [10, 2, 5, 2, 10, 1]
    assert all(isinstance(row[0], int) and isinstance(row[1], int) for row in wire)
    assert [row[2] for row in wire] == [0.5, 1.5, 0.5, 2.25, 1.5, 0.5]
    assert plan.wire_values == [1, 2, 5, 10] and level.wire_values == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([10, 3, 0.5], [3, 3, 0]),
        ([10.0, 3.0, 0.5], [3, 3, 0]),  # an FP64 tensor
        (["10", "3", "0.5"], [3, 3, 0]),  # a BYTES tensor
        (["10.0", " 3 ", "5e-1"], [3, 3, 0]),
        (["1", "top", "2.25"], [0, 3, 2]),  # a category's name always counts
        ([np.int64(5), np.float64(1.0), np.float32(1.5)], [2, 1, 1]),
    ],
)
def test_codes_are_read_in_every_spelling(coded: FeatureSchema, row: list, expected: list) -> None:
    np.testing.assert_array_equal(coded.to_numeric([row])[0], expected)


@pytest.mark.parametrize(
    ("column", "value", "valid"),
    [
        (0, 3, [1, 2, 5, 10]),  # not one of the numbers
        (0, 4.5, [1, 2, 5, 10]),
        (0, "ten", [1, 2, 5, 10]),
        (1, 4.5, [0, 1, 2, 3]),  # not a whole code
        (1, 4.0, [0, 1, 2, 3]),  # out of range
        (1, -1, [0, 1, 2, 3]),
        (1, "4", [0, 1, 2, 3]),
        (1, "nan", [0, 1, 2, 3]),
        (1, True, [0, 1, 2, 3]),
        (1, 10**400, [0, 1, 2, 3]),
        (2, 1.0, [0.5, 1.5, 2.25]),
    ],
)
def test_a_value_that_is_no_category_names_the_feature_and_what_is_valid(
    coded: FeatureSchema, column: int, value: object, valid: list
) -> None:
    row = [10, 1, 0.5]
    row[column] = value
    with pytest.raises(UnknownCategoryError) as info:
        coded.to_numeric([row])
    assert info.value.feature == coded.names[column]
    assert info.value.valid == valid
    assert shown(value) in str(info.value) and coded.names[column] in str(info.value)


def test_numeric_categories_given_as_numbers_become_text() -> None:
    feature = Feature(name="plan", kind="categorical", categories=[1, 2.0, 5.5], wire="value")
    assert feature.categories == ["1", "2", "5.5"]
    assert feature.wire_values == [1, 2, 5.5]


@pytest.mark.parametrize(
    "categories", [["1", "a"], ["1", "1.0"]], ids=["not numbers", "the same number twice"]
)
def test_wire_value_needs_distinct_numbers(categories: list[str]) -> None:
    with pytest.raises(ValidationError, match="wire 'value'"):
        Feature(name="c", kind="categorical", categories=categories, wire="value")


def test_names_in_the_reference_and_codes_on_the_wire() -> None:
    data = pd.DataFrame({"level": ["mid", "low", "top"]})
    schema = FeatureSchema.infer(data, overrides={"level": {"wire": "code", "categories": LEVELS}})
    np.testing.assert_array_equal(schema.to_numeric([["mid"], [3.0], ["2"]])[:, 0], [1, 3, 2])
    assert schema.to_wire(np.array([[1.0]])) == [[1]]


def test_an_override_kind_decides_for_a_numeric_column() -> None:
    schema = FeatureSchema.infer(CODED, overrides={"plan": {"kind": "categorical"}})
    assert schema["plan"].categories == ["1", "2", "5", "10"]
    assert schema["plan"].wire is WireFormat.value
    assert schema["level"].kind is FeatureKind.numeric


@settings(max_examples=200, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.integers(-(10**6), 10**6),
            st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not x.is_integer()),
        ),
        min_size=1,
        max_size=8,
        unique_by=float,
    ),
    data=st.data(),
)
def test_property_numeric_categories_round_trip(numbers: list, data: st.DataObject) -> None:
    column = pd.Series(
        numbers * 2, dtype=float if any(isinstance(n, float) for n in numbers) else int
    )
    schema = FeatureSchema.infer(pd.DataFrame({"c": column}), categorical=["c"])
    feature = schema["c"]
    assert [float(c) for c in feature.categories] == sorted(float(n) for n in numbers)
    chosen = data.draw(st.lists(st.sampled_from(numbers), min_size=1, max_size=10))
    spelled = [data.draw(st.sampled_from([n, float(n), str(n), repr(float(n))])) for n in chosen]
    codes = schema.to_numeric([[v] for v in spelled])[:, 0]
    assert [feature.categories[int(c)] for c in codes] == [number_text(n) for n in chosen]
    wire = [row[0] for row in schema.to_wire(codes.reshape(-1, 1))]
    assert wire == [int(n) if float(n).is_integer() else n for n in chosen]
    assert schema.normalise([[v] for v in spelled]) == [[w] for w in wire]


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.text(min_size=1), min_size=1, max_size=8, unique=True),
    value=st.one_of(
        st.integers(-20, 20),
        st.floats(-20, 20, allow_nan=False),
        st.integers(-20, 20).map(str),
    ),
)
def test_property_wire_code_accepts_exactly_whole_codes_in_range(
    names: list[str], value: int | float | str
) -> None:
    feature = Feature(name="c", kind="categorical", categories=names, wire="code")
    schema = FeatureSchema(features=[feature])
    if isinstance(value, str) and value in names:
        assert schema.to_numeric([[value]])[0, 0] == names.index(value)
        return
    number = float(value)
    if number.is_integer() and 0 <= number < len(names):
        assert schema.to_numeric([[value]])[0, 0] == number
        assert schema.to_wire(np.array([[number]])) == [[int(number)]]
    else:
        with pytest.raises(UnknownCategoryError) as info:
            schema.to_numeric([[value]])
        assert info.value.valid == list(range(len(names)))


def test_labels_links_and_directions_are_checked(census_schema) -> None:
    frame = pd.DataFrame({"age": [30, 40], "education": ["HS-grad", "Bachelors"], "n": [9, 13]})
    schema = FeatureSchema.infer(
        frame,
        labels={"age": "Age"},
        links=[["education", "n"]],
        overrides={"age": {"direction": "increase"}},
    )
    assert schema["age"].display == "Age" and schema["n"].display == "n"
    assert schema.links == [["education", "n"]]
    assert schema["age"].direction == "increase"
    with pytest.raises(SchemaError, match="unknown feature"):
        FeatureSchema.infer(frame, labels={"height": "Height"})
    with pytest.raises(ValueError, match="links: unknown feature"):
        FeatureSchema.infer(frame, links=[["education", "height"]])
    with pytest.raises(ValueError, match="two or more"):
        FeatureSchema.infer(frame, links=[["age"]])
    with pytest.raises(ValueError, match="in two groups"):
        FeatureSchema.infer(frame, links=[["age", "n"], ["n", "education"]])
    with pytest.raises(ValueError, match="no order"):
        FeatureSchema.infer(frame, overrides={"education": {"direction": "increase"}})
