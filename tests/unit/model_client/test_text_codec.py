"""Text models' payloads in each protocol: what is sent, and what is read."""

from __future__ import annotations

import pytest

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs import make_codec
from explainer_service.settings import ModelSettings

TEXTS = [["a refund, please"], ["<b>é</b> \u202e"]]


def codec(protocol: str):
    return make_codec(
        ModelSettings(url="http://127.0.0.1:1/x", protocol=protocol), ["message"], text=True
    )


def test_v2_sends_bytes_as_mlserver_string_codec() -> None:
    body = codec("v2").encode_request(TEXTS)
    (tensor,) = body["inputs"]
    assert tensor["datatype"] == "BYTES" and tensor["shape"] == [2, 1]
    assert tensor["parameters"] == {"content_type": "str"}
    assert tensor["data"] == [t[0] for t in TEXTS]


@pytest.mark.parametrize(
    ("protocol", "body"),
    [
        ("v2", {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}]}),
        ("kserve-v1", {"instances": ["a", "b"]}),
        ("seldon", {"data": {"ndarray": ["a", "b"]}}),
        ("seldon", {"data": {"ndarray": [["a"], ["b"]]}}),
        ("mlflow", {"dataframe_split": {"columns": ["message"], "data": [["a"], ["b"]]}}),
        ("mlflow", {"dataframe_records": [{"message": "a"}, {"message": "b"}]}),
        ("records", [{"message": "a"}, {"message": "b"}]),
    ],
)
def test_each_protocol_s_text_form_is_read(protocol: str, body: object) -> None:
    assert codec(protocol).decode_request(body) == [["a"], ["b"]]


@pytest.mark.parametrize("protocol", ["v2", "kserve-v1", "seldon", "mlflow", "records"])
def test_what_is_sent_is_read_back(protocol: str) -> None:
    text = codec(protocol)
    assert text.decode_request(text.encode_request(TEXTS)) == TEXTS


def test_seldon_str_data_is_one_row() -> None:
    assert codec("seldon").decode_request({"data": {"strData": "hi"}}) == [["hi"]]
    with pytest.raises(CodecError):
        codec("seldon").decode_request({"data": {"strData": 5}})
