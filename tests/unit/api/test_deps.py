"""Reading request bodies: JSON, and how deep it may nest."""

from __future__ import annotations

import pytest

from explainer_service.api.deps import MAX_JSON_DEPTH, parse_json
from explainer_service.errors import MalformedJsonError, PayloadError


def test_json_nesting_is_bounded() -> None:
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    for depth in (MAX_JSON_DEPTH + 1, 10_000, 100_000):
        with pytest.raises(PayloadError, match="nests deeper") as info:
            parse_json("[" * depth + "]" * depth)
        assert not isinstance(info.value, MalformedJsonError)
    deep_object = '{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(PayloadError, match="nests deeper"):
        parse_json(deep_object)


def test_json_errors() -> None:
    with pytest.raises(MalformedJsonError, match="not JSON"):
        parse_json("{broken")
    with pytest.raises(PayloadError, match="empty"):
        parse_json("")
    assert parse_json('{"inputs": [{"data": [[1, 2]]}]}') == {"inputs": [{"data": [[1, 2]]}]}


def test_numbers_python_cannot_read_are_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="number that cannot be read") as info:
        parse_json('{"instances": [{"age": ' + "9" * 5000 + "}]}")
    assert not isinstance(info.value, MalformedJsonError)
    # JSON parsers read these; the feature schema refuses them, naming the feature
    assert parse_json("[NaN, Infinity, 1e400]")[2] == float("inf")


def test_the_nesting_limit_is_a_parameter() -> None:
    nested = "[" * 6 + "]" * 6
    assert parse_json(nested, max_depth=6) == [[[[[[]]]]]]
    with pytest.raises(PayloadError, match="deeper than 5 levels"):
        parse_json(nested, max_depth=5)
