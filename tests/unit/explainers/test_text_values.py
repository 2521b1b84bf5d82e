"""Parameter values given as text, read by their parameter's type."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from explainers import ParameterError, get_explainer_class
from explainers.counterfactual.explainer import CounterfactualExplainer, CounterfactualParams
from explainers.shap.explainer import ShapExplainer
from explainers.text_values import read_text, takes_bool, takes_text


class Colour(StrEnum):
    red = "red"


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        (str, "1", "1"),
        (str | None, "10", "10"),
        (str | None, "null", "null"),
        (Annotated[str, Field(min_length=1)], "[1]", "[1]"),
        (Colour, "red", "red"),
        (Path, "123", "123"),
        (int, "5", 5),
        (float, "0.5", 0.5),
        (bool, "true", True),
        (tuple[float, float] | None, "[100, 200]", [100, 200]),
        (tuple[float, float] | None, "null", None),
        (Literal["auto", True, False], "auto", "auto"),
        (Literal["auto", True, False], "true", True),
        (list[str] | None, '["age"]', ["age"]),
        (list[str] | None, "age,hours", "age,hours"),  # not JSON: the field's validator reads it
        (int, "five", "five"),  # not JSON: the field's validation refuses it
        (Any, "[1", "[1"),
        (int, "[" * 100_000, "[" * 100_000),  # deeper than JSON reads
    ],
)
def test_read_by_type(annotation: Any, text: str, expected: Any) -> None:
    assert read_text(annotation, text) == expected


def test_a_literal_takes_only_the_text_it_lists() -> None:
    assert takes_text(Literal["genetic", "random"], "random")
    assert not takes_text(Literal["genetic", "random"], "1")
    assert not takes_text(int | None, "1")


def test_method_parameters_read_query_text_by_their_type() -> None:
    params = CounterfactualExplainer.validate_params(
        {
            "desired_class": "1",
            "total": "5",
            "keep_invalid": "true",
            "features_to_vary": "age,hours-per-week",
            "plausibility_quantile": "0.5",
        }
    )
    assert params.desired_class == "1"
    assert (params.total, params.keep_invalid, params.plausibility_quantile) == (5, True, 0.5)
    assert params.features_to_vary == ["age", "hours-per-week"]
    ranged = CounterfactualExplainer.validate_params({"desired_range": "[100, 200]"})
    assert ranged.desired_range == (100.0, 200.0)
    assert CounterfactualExplainer.validate_params(
        {"features_to_vary": '["age"]'}
    ).features_to_vary == ["age"]
    shap = ShapExplainer.validate_params({"exact": "true", "output_class": "10", "link": "logit"})
    assert (shap.exact, shap.output_class, shap.link) == (True, "10", "logit")
    assert ShapExplainer.validate_params({"exact": "auto"}).exact == "auto"


def test_a_number_for_a_text_parameter_is_its_text() -> None:
    # YAML's `desired_class: 1`, or a JSON body's
    assert CounterfactualParams.model_validate({"desired_class": 1}).desired_class == "1"


def test_text_that_does_not_fit_is_refused_naming_the_parameter() -> None:
    with pytest.raises(ParameterError) as info:
        CounterfactualExplainer.validate_params({"total": "five"})
    assert info.value.field == "total"
    with pytest.raises(ParameterError) as info:
        CounterfactualExplainer.validate_params({"desired_range": "100,200"})
    assert info.value.field == "desired_range"
    with pytest.raises(ParameterError) as info:
        CounterfactualExplainer.validate_params({"max_features": "three"})
    assert info.value.field == "max_features"


@pytest.mark.parametrize("given", [True, False, "true", "false"])
@pytest.mark.parametrize(("method", "field"), [("anchors", "threshold"), ("shap", "seed")])
def test_true_or_false_for_a_number_is_refused_by_name(method: str, field: str, given) -> None:
    """pydantic alone reads ``true`` as 1 (``threshold=true`` became 1.0)."""
    with pytest.raises(ParameterError, match=f"{field}: Input should be a valid"):
        get_explainer_class(method).resolve_params({}, {field: given})


def test_true_or_false_still_reach_a_parameter_that_takes_them() -> None:
    cls = get_explainer_class("counterfactual")
    assert cls.resolve_params({}, {"keep_invalid": False}).keep_invalid is False
    assert cls.resolve_params({}, {"keep_invalid": "false"}).keep_invalid is False
    assert takes_bool(bool | None) and not takes_bool(float) and not takes_bool(int | None)
