"""The checks of a comparison, in-process: rule rows, SHAP ranking, and each version's
explanation scored by the other (plain functions stand in for the two models)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainer_service.comparison import ModelSide, compare_explanations, rule_rows
from explainer_service.comparison.checks import _holds, shap_differences
from explainers import BlackBox, FeatureSchema
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    Condition,
    Contribution,
    Cost,
    Explanation,
    Prediction,
    Provenance,
    ShapResult,
)
from explainers.model import CountingModel

NAMES = ["gain", "school", "colour"]
CLASSES = ["no", "yes"]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "gain": rng.choice([0, 0, 0, 2000, 8000], size=400),
            "school": rng.integers(5, 17, size=400),
            "colour": rng.choice(["red", "blue"], size=400),
        }
    )


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> FeatureSchema:
    return FeatureSchema.infer(reference)


def rule(rows: list[list[Any]], *, gains: bool) -> np.ndarray:
    """yes iff school >= 13 (or, with ``gains``, gain > 5000)."""
    yes = np.array([r[1] >= 13 or (gains and r[0] > 5000) for r in rows], dtype=float)
    return np.column_stack([1 - yes, yes])


def counted(schema: FeatureSchema, gains: bool) -> CountingModel:
    return CountingModel(
        BlackBox(lambda rows: rule(rows, gains=gains), class_names=CLASSES), schema
    )


def test_rule_rows_hold_the_rule_and_fill_from_the_instance(reference: pd.DataFrame) -> None:
    conditions = [Condition(feature="gain", operator=">", value=5000)]
    instance = {"gain": 9000, "school": 9, "colour": "red"}
    rows = rule_rows(reference, instance, conditions, 50, seed=1)
    assert len(rows) == 50 and all(row[0] > 5000 for row in rows)
    held = int((reference["gain"] > 5000).sum())
    many = rule_rows(reference, instance, conditions, held + 30, seed=1)
    assert len(many) == held + 30 and all(row[0] > 5000 for row in many)
    assert sum(row[0] == 9000 for row in many) == 30  # the filled rows take the instance's gain
    assert rule_rows(reference, instance, conditions, 50, seed=1) == rows  # seeded


def test_rule_rows_of_a_category_and_of_no_condition(reference: pd.DataFrame) -> None:
    instance = {"gain": 0, "school": 9, "colour": "blue"}
    blue = rule_rows(
        reference, instance, [Condition(feature="colour", operator="=", value="blue")], 40, 3
    )
    assert {row[2] for row in blue} == {"blue"}
    assert len(rule_rows(reference, instance, [], 40, 3)) == 40
    instance = {**instance, "school": 12}  # a rule holds for its instance
    twelve = rule_rows(
        reference, instance, [Condition(feature="school", operator="=", value=12.0)], 40, 3
    )
    assert {row[1] for row in twelve} == {12}
    # a number equals a number, whatever its type: the reference's own rows are drawn
    equal = _holds(reference["school"], Condition(feature="school", operator="=", value=12.0))
    assert equal.sum() == (reference["school"] == 12).sum() > 0


def shap(output: str, values: dict[str, float]) -> ShapResult:
    contributions = [Contribution(feature=n, value=0, shap=values[n]) for n in NAMES]
    return ShapResult(output=output, link="identity", base_value=0.3, contributions=contributions)


def test_shap_differences_are_ranked_by_their_size() -> None:
    ranked = shap_differences(
        shap("yes", {"gain": 0.7, "school": -0.1, "colour": 0.01}),
        shap("yes", {"gain": 0.0, "school": -0.3, "colour": 0.01}),
    )
    assert [d.feature for d in ranked] == ["gain", "school", "colour"]
    assert ranked[0].difference == pytest.approx(-0.7) and ranked[2].difference == 0


def explanation(label: str, conditions: list[Condition], precision: float = 1.0) -> Explanation:
    result = AnchorResult(
        rule=[f"{c.feature} {c.operator} {c.value}" for c in conditions],
        conditions=conditions,
        precision=precision,
        coverage=0.1,
        examples_hold=[],
        examples_fail=[],
    )
    fidelity = AnchorFidelity.model_construct(method="anchors")
    return Explanation.model_construct(
        method="anchors",
        instance={"gain": 9000, "school": 9, "colour": "red"},
        prediction=Prediction(label=label),
        result=result,
        fidelity=fidelity,
        cost=Cost(model_calls=0, rows=0, model_seconds=0, seconds=0),
        provenance=Provenance(
            explainer="x", params={"threshold": 0.95}, seed=5, versions={},
            reference_fingerprint="f", reference_rows=400,
        ),
    )  # fmt: skip


def side(version: str, label: str) -> ModelSide:
    return ModelSide(
        version=version, name="m", explanation_id=version, prediction=Prediction(label=label)
    )  # type: ignore[arg-type]


def test_a_rule_on_gains_fails_on_a_version_that_ignores_them(
    reference: pd.DataFrame, schema: FeatureSchema
) -> None:
    models = {"model": counted(schema, gains=True), "candidate": counted(schema, gains=False)}
    comparison = compare_explanations(
        {
            "model": explanation("yes", [Condition(feature="gain", operator=">", value=5000)]),
            "candidate": explanation("no", [Condition(feature="school", operator="<=", value=12)]),
        },
        {"model": side("model", "yes"), "candidate": side("candidate", "no")},
        models,  # type: ignore[arg-type]
        schema,
        reference,
        100,
    )
    assert comparison.decision_changed is True
    ours, theirs = comparison.anchors
    # by hand: the candidate says yes to the rows with gains > 5000 only when school >= 13
    rows = rule_rows(reference, dict(comparison.instance), ours.conditions, 100, 5)
    by_hand = sum(r[1] >= 13 for r in rows) / len(rows)
    assert ours.precision_on_other == pytest.approx(by_hand) and ours.holds_on_other is False
    # school <= 12 says no on the model too, but for the rows with gains
    rows = rule_rows(reference, dict(comparison.instance), theirs.conditions, 100, 5)
    by_hand = sum(r[0] <= 5000 for r in rows) / len(rows)
    assert theirs.precision_on_other == pytest.approx(by_hand)
    assert theirs.holds_on_other is (by_hand >= 0.95)
    assert comparison.model_calls == 2 and comparison.rows <= 200  # one call each
