"""The Explanation envelope: exact JSON round trips, typed results, plugins' results kept."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    Condition,
    Cost,
    Explanation,
    OtherFidelity,
    OtherResult,
    Prediction,
    Provenance,
)


def envelope(**overrides) -> Explanation:
    fields = {
        "method": "anchors",
        "instance": {"age": 39, "workclass": "Privé \"quoted\"", "hours": 40.5},
        "prediction": Prediction(
            label=">50K", class_index=1, probabilities={"<=50K": 0.1, ">50K": 0.9}
        ),
        "result": AnchorResult(
            rule=["age > 28"],
            conditions=[Condition(feature="age", operator=">", value=28.0)],
            precision=0.97,
            coverage=0.25,
            examples_hold=[{"age": 40}],
            examples_fail=[],
        ),
        "fidelity": AnchorFidelity(
            precision=0.96,
            samples=1000,
            precision_lower=0.95,
            precision_upper=0.97,
            confidence=0.95,
            reference_rows=120,
            threshold=0.95,
            threshold_met=True,
            rounds=1,
            candidates=20,
        ),
        "cost": Cost(model_calls=3, rows=1200, model_seconds=0.1, seconds=0.2),
        "provenance": Provenance(
            explainer="x.Y", params={"threshold": 0.95}, seed=0, versions={"shap": "0.49.1"},
            reference_fingerprint="ab", reference_rows=10,
        ),
    }  # fmt: skip
    return Explanation(**{**fields, **overrides})


def test_json_round_trip_is_exact() -> None:
    original = envelope()
    again = Explanation.model_validate_json(original.model_dump_json())
    assert again == original
    assert isinstance(again.result, AnchorResult)
    assert again.instance == {"age": 39, "workclass": 'Privé "quoted"', "hours": 40.5}
    assert type(again.instance["age"]) is int and type(again.instance["hours"]) is float


def test_a_plugins_result_is_kept_whole() -> None:
    original = envelope(
        method="constant",
        result=OtherResult(method="constant", scores={"age": 1.0}),
        fidelity=OtherFidelity(method="constant", checked=True),
    )
    again = Explanation.model_validate_json(original.model_dump_json())
    assert again == original
    assert json.loads(again.model_dump_json())["result"]["scores"] == {"age": 1.0}


def test_typed_results_refuse_unknown_fields() -> None:
    data = json.loads(envelope().model_dump_json())
    data["cost"]["bogus"] = 1
    with pytest.raises(ValidationError):
        Explanation.model_validate(data)
