"""Codecs: round trips through JSON text for every protocol, and malformed bodies."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs import (
    Codec,
    KServeV1Codec,
    MlflowCodec,
    RecordsCodec,
    SeldonCodec,
    V2Codec,
)
from explainer_service.model_client.codecs.base import normalise_rows
from explainer_service.model_client.scores import interpret
from explainer_service.settings import (
    KServeV1Options,
    MlflowOptions,
    OutputKind,
    V2Options,
)

NAMES = ["age", "work class", 'quote"d', "naïve-ünïcode", "hours"]

CODECS: dict[str, Codec] = {
    "v2-tensor": V2Codec(NAMES),
    "v2-columnar": V2Codec(NAMES, V2Options(input_layout="columnar", output_name="predict_proba")),
    "seldon": SeldonCodec(NAMES),
    "kserve-v1-list": KServeV1Codec(NAMES),
    "kserve-v1-dict": KServeV1Codec(NAMES, KServeV1Options(instance_format="dict")),
    "mlflow-split": MlflowCodec(NAMES),
    "mlflow-records": MlflowCodec(NAMES, MlflowOptions(format="dataframe_records")),
    "records": RecordsCodec(NAMES),
}

scalars = st.one_of(
    st.text(),  # quotes, backslashes, unicode, control characters
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
rows_strategy = st.lists(st.lists(scalars, min_size=len(NAMES), max_size=len(NAMES)), max_size=8)


def over_the_wire(body: Any) -> Any:
    """What the other side reads: the body as JSON text, parsed again."""
    return json.loads(json.dumps(body, allow_nan=False, ensure_ascii=False))


def same_values(a: list[list[Any]], b: list[list[Any]]) -> bool:
    """Equal, and of the same JSON types (1 and 1.0 and True are not the same value here)."""
    return a == b and all(
        type(x) is type(y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)
    )


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy)
def test_rows_survive_request_round_trip(name: str, rows: list[list[Any]]) -> None:
    codec = CODECS[name]
    decoded = codec.decode_request(over_the_wire(codec.encode_request(rows)))
    assert same_values(decoded, rows)


#: rows of three class probabilities (each row sums to 1: anything else is refused)
probabilities = st.integers(0, 8).flatmap(
    lambda n: st.lists(
        st.lists(st.floats(0.01, 1), min_size=3, max_size=3).map(
            lambda weights: [w / sum(weights) for w in weights]
        ),
        min_size=n,
        max_size=n,
    )
)


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=40, deadline=None)
@given(rows=rows_strategy, table=probabilities)
def test_model_side_and_back(name: str, rows: list[list[Any]], table: list[list[float]]) -> None:
    """rows -> request -> model-side decode -> model -> response -> scores."""
    codec = CODECS[name]
    model_rows = codec.decode_request(over_the_wire(codec.encode_request(rows)))
    scores = np.array(table[: len(model_rows)] + [[0.2, 0.3, 0.5]] * (len(model_rows) - len(table)))
    scores = scores.reshape(len(model_rows), 3)
    answer = over_the_wire(codec.encode_response(scores))
    got = interpret(codec.decode_response(answer), OutputKind.probabilities, len(rows), 3)
    np.testing.assert_array_equal(got, scores)


@pytest.mark.parametrize("name", CODECS)
def test_labels_and_regression_answers(name: str) -> None:
    codec = CODECS[name]
    labels = np.array(["<=50K", ">50K", "<=50K"])
    got = interpret(
        codec.decode_response(over_the_wire(codec.encode_response(labels))), OutputKind.labels, 3
    )
    assert got.tolist() == labels.tolist()
    values = np.array([1.5, -2.25, 1e6])
    got = interpret(
        codec.decode_response(over_the_wire(codec.encode_response(values))),
        OutputKind.regression,
        3,
    )
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), np.float64("nan")])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(CodecError) as info:
        normalise_rows([[1, "a", "b", "c", bad]], len(NAMES))
    assert info.value.field == "[0][4]"


def test_rows_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(CodecError, match="row 1 has 4 values; expected 5"):
        normalise_rows([[1, 2, 3, 4, 5], [1, 2, 3, 4]], len(NAMES))


def test_numpy_values_become_json_scalars() -> None:
    rows = normalise_rows(np.array([[1, 2, 3, 4, 5]], dtype=np.int64), len(NAMES))
    assert rows == [[1, 2, 3, 4, 5]] and type(rows[0][0]) is int


def test_plain_rows_come_back_as_copies_and_anything_else_is_still_checked() -> None:
    plain = [[1, "a", 2.5, True, None], [2, "b", -0.0, False, "c"]]
    rows = normalise_rows(plain, len(NAMES))
    assert rows == plain and all(r is not p for r, p in zip(rows, plain, strict=True))
    mixed = [[1, "a", 2.5, True, None], [np.int64(2), "b", np.float64(0.5), False, "c"]]
    rows = normalise_rows(mixed, len(NAMES))
    assert rows == [[1, "a", 2.5, True, None], [2, "b", 0.5, False, "c"]]
    assert [type(v) for v in rows[1]] == [int, str, float, bool, str]
    huge = [[10**400, 1.5, 1, 2, 3]]  # no float holds it: checked value by value, kept
    assert normalise_rows(huge, 5) == huge
    with pytest.raises(CodecError) as info:  # a NaN far down a batch of plain rows
        normalise_rows([[1, "a", 2.0, 3.0, 4.0]] * 50 + [[1, "a", 2.0, float("nan"), 4.0]], 5)
    assert info.value.field == "[50][3]"
    with pytest.raises(CodecError) as info:
        normalise_rows([[1, 2.0, 3.0, 4.0, 5.0]] * 3 + [[1, 2.0, 3.0, float("inf"), 5.0]], 5)
    assert info.value.field == "[3][3]"
    with pytest.raises(CodecError) as info:
        normalise_rows([[1, "a", 2.0, 3.0, 4.0], [1, "a", 2.0, [3.0], 4.0]], 5)
    assert info.value.field == "[1][3]"
    with pytest.raises(CodecError, match="row 1 is not a list"):
        normalise_rows([[1, "a", 2.0, 3.0, 4.0], "abcde"], 5)


def test_empty_batch_round_trips_everywhere() -> None:
    for name, codec in CODECS.items():
        assert codec.decode_request(over_the_wire(codec.encode_request([]))) == [], name


def test_v2_columnar_request_is_what_mlserver_reads() -> None:
    body = CODECS["v2-columnar"].encode_request([[39, "Private", "x", "y", 40.5]])
    assert body["parameters"] == {"content_type": "pd"}
    assert body["outputs"] == [{"name": "predict_proba"}]
    by_name = {i["name"]: i for i in body["inputs"]}
    assert by_name["age"] == {"name": "age", "shape": [1], "datatype": "INT64", "data": [39]}
    assert by_name["hours"]["datatype"] == "FP64"
    assert by_name["work class"]["datatype"] == "BYTES"
    assert by_name["work class"]["parameters"] == {"content_type": "str"}


def test_named_columns_are_reordered() -> None:
    names = list(reversed(NAMES))
    body = {"data": {"names": names, "ndarray": [[5, 4, 3, 2, 1]]}}
    assert SeldonCodec(NAMES).decode_request(body) == [[1, 2, 3, 4, 5]]
    split = {"dataframe_split": {"columns": names, "data": [[5, 4, 3, 2, 1]]}}
    assert MlflowCodec(NAMES).decode_request(split) == [[1, 2, 3, 4, 5]]


def test_v2_output_is_chosen_by_name() -> None:
    body = {
        "outputs": [
            {"name": "predict", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "predict_proba", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.9]},
        ]
    }
    assert CODECS["v2-columnar"].decode_response(body).tolist() == [[0.1, 0.9]]
    assert CODECS["v2-tensor"].decode_response(body).tolist() == [1]


MALFORMED_REQUESTS = [
    ("v2-tensor", {"inputs": []}, "inputs"),
    ("v2-tensor", {"input": []}, "inputs"),
    (
        "v2-tensor",
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
        "inputs[0].shape",
    ),
    (
        "v2-tensor",
        {"inputs": [{"name": "x", "shape": [2, 5], "datatype": "FP64", "data": [1, 2]}]},
        "inputs[0].data",
    ),
    ("v2-tensor", {"inputs": [{"name": "x", "shape": "2", "data": [1]}]}, "inputs[0].shape"),
    (
        "v2-columnar",
        {"inputs": [{"name": n, "shape": [1], "data": [1]} for n in NAMES[:4]]},
        "inputs[].name",
    ),
    ("seldon", {"data": {"names": NAMES, "ndarray": [[1, 2]]}}, "data.ndarray[0]"),
    ("seldon", {"data": {"names": ["a"] * 5, "ndarray": [[1, 2, 3, 4, 5]]}}, "data.names"),
    ("seldon", {"data": {}}, "data"),
    ("seldon", {"data": {"tensor": {"shape": [1, 5], "values": [1, 2]}}}, "data.tensor.shape"),
    ("kserve-v1-list", {"instances": [[1, 2, 3]]}, "instances[0]"),
    ("kserve-v1-list", {"instances": [{"age": 1}, [1, 2, 3, 4, 5]]}, "instances"),
    ("kserve-v1-list", {"instances": [{"age": 1}]}, "work class"),
    ("kserve-v1-list", {"instances": "nope"}, "instances"),
    (
        "mlflow-split",
        {"dataframe_split": {"columns": NAMES, "data": [[1]]}},
        "dataframe_split.data[0]",
    ),
    ("mlflow-split", {"split": {}}, None),
    ("records", [{**dict.fromkeys(NAMES, 1), "extra": 2}], "extra"),
    ("records", [[1, 2, 3, 4, 5]], "(body)"),
    ("records", "age=1", None),
    ("kserve-v1-list", {"instances": [[1, 2, 3, 4, {"nested": 1}]]}, "instances[0][4]"),
    # found by schemathesis (a TypeError, answered 500, before names were checked first)
    ("seldon", {"data": {"names": True, "ndarray": [[1, 2, 3, 4, 5]]}}, "data.names"),
    ("seldon", {"data": {"names": [1], "tensor": {"shape": [1, 1], "values": [1]}}}, "data.names"),
    # two forms of values: which one the model read is unknowable
    (
        "seldon",
        {"data": {"ndarray": [[1, 2, 3, 4, 5]], "tensor": {"shape": [1, 5], "values": [5] * 5}}},
        "data",
    ),
    ("seldon", {"data": {"ndarray": [[1, 2, 3, 4, 5]], "strData": "x"}}, "data"),
]


@pytest.mark.parametrize(("name", "body", "field"), MALFORMED_REQUESTS)
def test_malformed_requests_name_the_field(name: str, body: Any, field: str | None) -> None:
    with pytest.raises(CodecError) as info:
        CODECS[name].decode_request(body)
    assert info.value.field == field
    assert info.value.message


MALFORMED_RESPONSES = [
    ("v2-tensor", {"outputs": []}),
    ("v2-tensor", {"outputs": [{"name": "p", "shape": [2, 2], "data": [1, 2, 3]}]}),
    ("v2-columnar", {"outputs": [{"name": "other", "shape": [1], "data": [1]}]}),
    ("seldon", {"data": {"ndarray": [[1, 2], [3]]}}),
    ("seldon", {"meta": {}}),
    ("seldon", {"data": {"ndarray": [[0.5, 0.5]], "tensor": {"shape": [1, 2], "values": [1, 0]}}}),
    ("kserve-v1-list", {"prediction": [1]}),
    ("mlflow-split", {"predictions": "x"}),
    ("records", {"scores": [1]}),
]


@pytest.mark.parametrize(("name", "body"), MALFORMED_RESPONSES)
def test_malformed_responses_are_refused(name: str, body: Any) -> None:
    with pytest.raises(CodecError):
        CODECS[name].decode_response(body)


@pytest.mark.parametrize(
    ("array", "output", "n_rows", "n_classes", "message"),
    [
        (np.array([[0.1, 0.9]]), OutputKind.probabilities, 2, None, "answered 1 rows for 2"),
        (np.array([[0.1, 0.8, 0.1]]), OutputKind.probabilities, 1, 2, "expected 2 class"),
        (np.array([["a", "b"]]), OutputKind.probabilities, 1, None, "expected numbers"),
        (np.array([np.nan]), OutputKind.regression, 1, None, "NaN"),
        (np.array([[1, 2]]), OutputKind.regression, 1, None, "one value per row"),
        (np.array([["a", "b"]]), OutputKind.labels, 1, None, "one label per row"),
    ],
)
def test_interpret_refuses_answers_that_do_not_fit(
    array: np.ndarray, output: OutputKind, n_rows: int, n_classes: int | None, message: str
) -> None:
    with pytest.raises(CodecError, match=message):
        interpret(array, output, n_rows, n_classes)


def test_single_probability_column_is_widened() -> None:
    got = interpret(np.array([0.25, 1.0]), OutputKind.probabilities, 2, 2)
    np.testing.assert_array_equal(got, [[0.75, 0.25], [0.0, 1.0]])


def test_every_protocol_has_a_codec() -> None:
    from explainer_service.model_client.codecs import REGISTRY, make_codec
    from explainer_service.settings import ModelSettings, Protocol

    assert set(REGISTRY) == set(Protocol)
    for protocol in Protocol:
        settings = ModelSettings(url="http://127.0.0.1:1/", protocol=protocol)
        assert make_codec(settings, NAMES).protocol == protocol.value


@pytest.mark.parametrize("shape", [[2**62, 4], [2**64], [10**7, 0], [0, 12], [True, 12]])
def test_a_seldon_tensor_shape_must_fit_the_values_it_sends(shape) -> None:
    codec = SeldonCodec(["a", "b", "c", "d"])
    with pytest.raises(CodecError, match="does not fit"):
        codec.decode_request({"data": {"tensor": {"shape": shape, "values": []}}})


KEYS = ["data", "names", "ndarray", "tensor", "shape", "values", "inputs", "instances", *NAMES]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=30,
)


def _keys(*keys: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of ``keys``, each holding any JSON value."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, JSON_VALUES))


#: Bodies shaped like each protocol's, with any values inside.
NEAR_MISSES = {
    "seldon": st.fixed_dictionaries({"data": _keys("names", "ndarray", "tensor")}),
    "kserve": st.fixed_dictionaries({"instances": JSON_VALUES}),
    "v2": st.fixed_dictionaries(
        {"inputs": st.lists(_keys("name", "shape", "datatype", "data"), max_size=3)}
    ),
    "mlflow": _keys("dataframe_split", "dataframe_records"),
    "records": JSON_VALUES,
}


@pytest.mark.parametrize("name", list(CODECS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_any_json_is_rows_or_a_codec_error(name: str, data: st.DataObject) -> None:
    shaped = next(v for k, v in NEAR_MISSES.items() if name.startswith(k))
    body = data.draw(JSON_VALUES | shaped)
    try:
        rows = CODECS[name].decode_request(body)
    except CodecError as exc:
        assert exc.message
    else:
        assert all(len(row) == len(NAMES) for row in rows)
