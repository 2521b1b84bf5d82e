"""The fairness block and the flip test (``explainers.fairness``), against predict functions
in this process whose use of the protected attributes is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import BlackBox, FeatureSchema, OutputKind, SchemaError
from explainers.explanation import (
    AnchorResult,
    Change,
    Condition,
    Contribution,
    Cost,
    Counterfactual,
    CounterfactualResult,
    Explanation,
    ImportanceResult,
    Prediction,
    Provenance,
    ShapResult,
)
from explainers.fairness import assess, flip_rows, flip_test, protected_values
from explainers.wire import native
from tests.helpers.ground_truth import threshold_classifier
from tests.helpers.servers.gendered_model import gender_decides, gendered

PROTECTED = ["gender", "ethnicity"]


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> FeatureSchema:
    return FeatureSchema.infer(
        reference, target=paths.TARGET, immutable=["gender", "ethnicity"], missing=["?"]
    )


@pytest.fixture(scope="module")
def values(schema: FeatureSchema, reference: pd.DataFrame) -> dict[str, list[Any]]:
    return protected_values(schema, reference, PROTECTED)


class Counted:
    """A predict function that records every call."""

    def __init__(self, predict) -> None:
        self.predict = predict
        self.calls: list[int] = []

    def __call__(self, rows: list[list[Any]]) -> np.ndarray:
        self.calls.append(len(rows))
        return self.predict(rows)


def record_of(reference: pd.DataFrame, i: int, **changes: Any) -> dict[str, Any]:
    record = {k: native(v) for k, v in reference[paths.FEATURES].iloc[i].to_dict().items()}
    return {**record, **changes}


def prediction_of(predict, record: dict[str, Any]) -> Prediction:
    scores = predict([list(record.values())])[0]
    best = int(np.argmax(scores))
    return Prediction(
        label=paths.CLASS_NAMES[best],
        class_index=best,
        probabilities=dict(zip(paths.CLASS_NAMES, map(float, scores), strict=True)),
    )


def explanation(record: dict[str, Any], prediction: Prediction, result: Any) -> Explanation:
    return Explanation(
        method=result.method,
        instance=record,
        prediction=prediction,
        result=result,
        fidelity={"method": result.method},
        cost=Cost(model_calls=3, rows=30, model_seconds=0.5, seconds=1.0),
        provenance=Provenance(
            explainer="test", params={}, seed=0, versions={}, reference_fingerprint="x",
            reference_rows=1,
        ),
    )  # fmt: skip


def test_the_values_are_the_categories_but_unknown_and_the_quantiles_of_a_number(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    assert values["gender"] == sorted(reference["gender"].unique())
    assert values["ethnicity"] == sorted(reference["ethnicity"].unique())
    ages = protected_values(schema, reference, ["age"])["age"]
    quantiles = np.quantile(reference["age"], [0.1, 0.25, 0.5, 0.75, 0.9])
    assert ages == sorted({round(q) for q in quantiles})
    assert all(isinstance(age, int) for age in ages)
    with pytest.raises(SchemaError, match="religion"):
        protected_values(schema, reference, ["religion"])


def test_a_flip_row_changes_one_protected_attribute_to_each_other_value(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    record = record_of(reference, 0)
    row = list(record.values())
    flips = flip_rows(row, schema, values)
    expected = sum(len(v) - 1 for v in values.values())
    assert len(flips) == expected
    for name, value, changed in flips:
        differs = [i for i, (a, b) in enumerate(zip(row, changed, strict=True)) if a != b]
        assert differs == [schema.names.index(name)]
        assert changed[differs[0]] == value != record[name]


@pytest.mark.parametrize("i", range(40))
def test_the_flip_test_flips_exactly_where_the_rule_uses_gender(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]], i: int
) -> None:
    record = record_of(reference, i)
    predict = Counted(gendered)
    flips, counting = flip_test(
        list(record.values()), prediction_of(gendered, record), schema, values,
        BlackBox(predict, OutputKind.probabilities, paths.CLASS_NAMES),
    )  # fmt: skip
    assert predict.calls == [sum(len(v) - 1 for v in values.values())]  # one call
    assert counting.calls == 1 and counting.rows == predict.calls[0]
    assert [f.flipped for f in flips["gender"]] == [gender_decides(record)]
    assert not any(f.flipped for f in flips["ethnicity"])
    if gender_decides(record):
        assert [f.change for f in flips["gender"]] == [-1.0]  # the class's probability
        assert flips["gender"][0].label != prediction_of(gendered, record).label


def test_the_rows_the_rule_decides_by_gender_are_flagged_by_the_flip_test(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    box = BlackBox(gendered, OutputKind.probabilities, paths.CLASS_NAMES)
    blind = BlackBox(threshold_classifier, OutputKind.probabilities, paths.CLASS_NAMES)
    decided = 0
    for i in range(60):
        record = record_of(reference, i)
        empty = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
        for model, uses in ((box, True), (blind, False)):
            shown = explanation(record, prediction_of(model.predict, record), empty)
            fairness = assess(shown, schema, values, model, shap_threshold=0.1).fairness
            assert fairness is not None
            flagged = uses and gender_decides(record)
            assert fairness.flagged == (["gender"] if flagged else [])
            assert fairness.flags == (["flip"] if flagged else [])
            assert fairness.flipped is flagged
            decided += flagged
    assert decided >= 5  # the rows include some the rule decides by gender


def test_the_block_says_what_the_explanation_says_of_each_attribute(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    record = record_of(reference, 0, **{"education-num": 9, "capital-gain": 0})
    prediction = prediction_of(gendered, record)  # no flip: refused whatever the gender
    box = BlackBox(Counted(gendered), OutputKind.probabilities, paths.CLASS_NAMES)
    anchor = AnchorResult(
        rule=["gender = Male"], precision=1, coverage=0.5, examples_hold=[], examples_fail=[],
        conditions=[Condition(feature="gender", operator="=", value=record["gender"])],
    )  # fmt: skip
    shap = ShapResult(
        output=">50K", link="identity", base_value=0.2,
        contributions=[
            Contribution(feature=name, value=record[name], shap=shap)
            for name, shap in zip(
                schema.names, [0.05, 0, 0, -0.3, 0, 0, 0, 0.02, -0.13, 0, 0, 0], strict=True
            )
        ],
    )  # fmt: skip
    moved = {**record, "ethnicity": "Other"}
    counterfactual = CounterfactualResult(
        desired=">50K", found=True,
        counterfactuals=[Counterfactual(
            values=moved, prediction=prediction, valid=True, nearest_distance=0, plausible=True,
            changes=[Change(feature="ethnicity", from_value=record["ethnicity"], to_value="Other")],
        )],
    )  # fmt: skip
    blocks = {
        result.method: assess(
            explanation(record, prediction, result), schema, values, box, shap_threshold=0.1
        )
        for result in (anchor, shap, counterfactual)
    }
    anchors = blocks["anchors"].fairness
    assert anchors is not None
    assert [a.in_anchor for a in anchors.attributes] == [True, False]
    assert anchors.flagged == ["gender"] and anchors.flags == ["anchor"]
    assert all(
        a.shap_share is None and a.counterfactual_changes is None for a in anchors.attributes
    )

    shares = blocks["shap"].fairness
    assert shares is not None
    # |SHAP| of 0.05, 0.3, 0.02 and 0.13: gender 0.13 / 0.5, ethnicity 0.02 / 0.5
    assert [a.shap_share for a in shares.attributes] == pytest.approx([0.26, 0.04])
    assert shares.shap_share == pytest.approx(0.30)
    assert shares.flagged == ["gender"] and shares.flags == ["shap"]
    higher = assess(
        explanation(record, prediction, shap), schema, values, box, shap_threshold=0.3
    ).fairness
    assert higher is not None and higher.flagged == []

    changed = blocks["counterfactual"].fairness
    assert changed is not None
    assert [a.counterfactual_changes for a in changed.attributes] == [False, True]
    assert [a.immutable for a in changed.attributes] == [True, True]
    assert changed.flagged == ["ethnicity"] and changed.flags == ["counterfactual"]

    # the flip test's one call and its rows are added to the explanation's cost
    cost = blocks["anchors"].cost
    assert cost.model_calls == 3 + 1
    assert cost.rows == 30 + anchors.flip_rows == 30 + sum(len(v) - 1 for v in values.values())


def test_a_global_explanation_and_no_protected_attribute_get_no_block(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    predict = Counted(gendered)
    box = BlackBox(predict, OutputKind.probabilities, paths.CLASS_NAMES)
    record = record_of(reference, 0)
    result = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
    whole = explanation(record, prediction_of(gendered, record), result)
    whole = whole.model_copy(update={"instance": None})
    assert assess(whole, schema, values, box, shap_threshold=0.1).fairness is None
    local = explanation(record, prediction_of(gendered, record), result)
    assert assess(local, schema, {}, box, shap_threshold=0.1) == local
    assert predict.calls == []


def test_a_regression_reports_the_change_and_never_flips(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    def value(rows: list[list[Any]]) -> np.ndarray:
        return np.array(
            [10.0 + 5.0 * (row[schema.names.index("gender")] == "Male") for row in rows]
        )

    record = record_of(reference, 0, gender="Female")
    result = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
    shown = explanation(record, Prediction(value=10.0), result)
    box = BlackBox(value, OutputKind.regression)
    fairness = assess(shown, schema, values, box, shap_threshold=0.1).fairness
    assert fairness is not None
    gender = fairness.attributes[0]
    assert [(f.value, f.probability, f.change, f.flipped) for f in gender.flips] == [
        ("Male", 15.0, 5.0, False)
    ]
    assert fairness.max_change == 5.0 and not fairness.flipped and fairness.flagged == []


def test_the_block_survives_its_json(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    record = record_of(reference, 0)
    result = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
    box = BlackBox(gendered, OutputKind.probabilities, paths.CLASS_NAMES)
    shown = assess(
        explanation(record, prediction_of(gendered, record), result), schema, values, box,
        shap_threshold=0.1,
    )  # fmt: skip
    assert Explanation.model_validate_json(shown.model_dump_json()) == shown


def test_the_block_travels_in_alibi_s_shape(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    from explainer_service.compat.alibi_shape import to_alibi

    record = record_of(reference, 2)
    result = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
    box = BlackBox(gendered, OutputKind.probabilities, paths.CLASS_NAMES)
    plain = explanation(record, prediction_of(gendered, record), result)
    shown = assess(plain, schema, values, box, shap_threshold=0.1)
    shaped = to_alibi(shown, id="a", links={}, names=schema.names, class_names=paths.CLASS_NAMES)
    assert (
        shaped["meta"]["explainer_service"]["fairness"] == shown.model_dump(mode="json")["fairness"]
    )
    bare = to_alibi(plain, id="a", links={}, names=schema.names, class_names=paths.CLASS_NAMES)
    assert "fairness" not in bare["meta"]["explainer_service"]


def test_the_flip_test_is_within_the_explanation_s_budget(
    schema: FeatureSchema, reference: pd.DataFrame, values: dict[str, list[Any]]
) -> None:
    from explainers import Budget, BudgetExceededError

    record = record_of(reference, 0)
    result = ImportanceResult(scoring="x", baseline_score=1, rows=1, iterations=1, features=[])
    shown = explanation(record, prediction_of(gendered, record), result)  # 3 calls, 30 rows
    predict = Counted(gendered)
    box = BlackBox(predict, OutputKind.probabilities, paths.CLASS_NAMES)
    rows = sum(len(v) - 1 for v in values.values())
    fits = assess(shown, schema, values, box, shap_threshold=0.1, budget=Budget(4, 30 + rows))
    assert (fits.cost.model_calls, fits.cost.rows) == (4, 30 + rows)
    for budget in (Budget(3, None), Budget(None, 30 + rows - 1)):
        with pytest.raises(BudgetExceededError):
            assess(shown, schema, values, box, shap_threshold=0.1, budget=budget)
    assert predict.calls == [rows]  # the calls the budget stopped were never made
