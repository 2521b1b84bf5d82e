"""pydantic's validation problems in words: the one formatter the library, the
configuration and the HTTP layer share."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from explainers.errors import ParameterError
from explainers.validation import location, problems_text


class Inner(BaseModel):
    age: int


class Outer(BaseModel):
    rows: list[Inner]
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _ordered(self) -> Outer:
        if self.low > self.high:
            raise ValueError("low must not pass high")
        return self


def problems(data: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    return list(caught.value.errors())


def test_each_problem_is_its_dotted_path_and_message() -> None:
    found = problems({"rows": [{"age": 1}, {"age": "old"}], "low": "x"})
    assert location(found[0]) == "rows.1.age"
    assert problems_text(found) == (
        "rows.1.age: Input should be a valid integer, unable to parse string as an integer; "
        "low: Input should be a valid integer, unable to parse string as an integer"
    )


def test_skip_drops_the_leading_parts_of_the_path() -> None:
    found = problems({"rows": [{"age": "old"}]})
    assert location(found[0], skip=2) == "age"
    assert problems_text(found, skip=2).startswith("age: Input should be a valid integer")


def test_a_problem_with_the_whole_object_is_its_message_or_named_whole() -> None:
    found = problems({"rows": [], "low": 2, "high": 1})
    assert location(found[0]) == ""
    assert problems_text(found) == "low must not pass high"
    assert problems_text(found, whole="parameters") == "parameters: low must not pass high"


def test_a_parameter_error_names_the_first_problem_and_says_every_one() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"rows": [{"age": "old"}], "high": "x"})
    error = ParameterError.from_validation("anchors", caught.value)
    assert error.field == "rows.0.age"
    assert str(error) == (
        "invalid parameters for anchors: rows.0.age: Input should be a valid integer, unable "
        "to parse string as an integer; high: Input should be a valid integer, unable to "
        "parse string as an integer"
    )


def test_a_parameter_error_about_the_whole_names_parameters() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"rows": [], "low": 2, "high": 1})
    error = ParameterError.from_validation("anchors", caught.value)
    assert error.field == "parameters"
    assert str(error) == "invalid parameters for anchors: parameters: low must not pass high"
