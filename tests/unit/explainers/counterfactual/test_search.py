"""The search's parts: the values it tries, the refinement's bound, the same answer for any
seed, the missing categories, the calls per step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import BlackBox, FeatureSchema, OutputKind
from explainers.counterfactual.candidates import Candidates, refine_steps
from explainers.counterfactual.constraints import Constraints
from explainers.counterfactual.explainer import CounterfactualExplainer
from explainers.counterfactual.search import REFINE_POINTS, _Track
from tests.conftest import IMMUTABLE, applicant
from tests.helpers.ground_truth import column, threshold_classifier


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 17, 64, 100, 1000, 4097, 10001])
def test_the_refinement_never_takes_more_steps_than_its_bound(size: int) -> None:
    """Every threshold position in a lattice of ``size`` values, searched as the search does:
    found at the right place within ``refine_steps`` calls."""
    bound = refine_steps(size, REFINE_POINTS)
    for threshold in sorted({0, 1, size // 3, size // 2, size - 2, size - 1} - {-1}):
        if not 0 <= threshold < size:
            continue
        track = _Track(0, 0, np.arange(size, dtype=float), high=size - 1)
        steps = 0
        while track.high - track.low > 1:
            points = track.points()
            assert 0 < len(points) <= REFINE_POINTS
            steps += 1
            track.high = min([p for p in points if p >= threshold], default=track.high)
            track.low = max([p for p in points if p < threshold], default=track.low)
        assert track.high == threshold and steps <= bound, (size, threshold, steps, bound)


def test_the_values_tried_respect_the_constraints(reference: pd.DataFrame) -> None:
    schema = FeatureSchema.infer(
        reference,
        target=paths.TARGET,
        immutable=IMMUTABLE,
        overrides={
            "hours-per-week": {"min": 20, "max": 60},
            "capital-loss": {"direction": "decrease"},
        },
        links=[["education", "education-num"]],
        missing=["?"],
    )
    matrix = schema.to_numeric(reference[schema.names])
    candidates = Candidates(schema, matrix, Constraints(schema, matrix))
    x = schema.to_numeric([list(applicant(reference, 11, **{"hours-per-week": 40}).values())])[0]
    varied = {j for j, f in enumerate(schema.features) if not f.immutable}
    units = {u.columns: u for u in candidates.units(x, varied, limit=10)}
    names = schema.names
    assert all(not schema[names[j]].immutable for cols in units for j in cols)
    hours = units[(names.index("hours-per-week"),)]
    assert len(hours.options) == 10 and set(hours.sides) == {1, -1}
    assert hours.options.min() >= 20 and hours.options.max() == 60  # the farthest kept
    assert 40 not in hours.options
    loss = units.get((names.index("capital-loss"),))
    assert loss is None or (loss.options <= x[names.index("capital-loss")]).all()
    workclass = names.index("workclass")
    question = schema["workclass"].code_of_category("?")
    assert question not in units[(workclass,)].options
    link = (names.index("education"), names.index("education-num"))
    seen = set(map(tuple, reference[["education", "education-num"]].astype(str).values))
    for code, years in units[link].options:
        assert (schema["education"].categories[int(code)], str(int(years))) in seen
    # the refinement's values: whole numbers between, within the range, the found one last
    lattice = candidates.lattice(names.index("hours-per-week"), 40.0, 55.0)
    assert lattice.tolist() == list(range(41, 56))
    assert candidates.lattice(names.index("hours-per-week"), 70.0, 50.0).tolist() == list(
        range(60, 49, -1)
    )


def test_a_missing_category_must_be_one_of_the_features(reference: pd.DataFrame) -> None:
    schema = FeatureSchema.infer(reference, target=paths.TARGET, missing=["?"])
    assert schema["workclass"].missing == ["?"] and schema["education"].missing == []
    with pytest.raises(ValueError, match="not its categories"):
        FeatureSchema.infer(
            reference, target=paths.TARGET, overrides={"workclass": {"missing": ["none"]}}
        )


def test_any_seed_gives_the_same_answer_and_each_step_is_one_call(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    calls: list[int] = []

    def counted(rows):
        calls.append(len(rows))
        return threshold_classifier(rows)

    explainer = CounterfactualExplainer(
        census_schema, reference, BlackBox(counted, class_names=["no", "yes"])
    )
    instance = applicant(reference, 11, **{"capital-gain": 0, "education-num": 9})
    answers = [
        [cf.values for cf in explainer.explain(instance, {"seed": seed}).result.counterfactuals]
        for seed in (0, 1, 7)
    ]
    assert answers[0] == answers[1] == answers[2] and answers[0]
    calls.clear()
    explanation = explainer.explain(instance, {})
    assert len(calls) == explanation.cost.model_calls
    # the instance, every single change, then the refinement: few rows per step
    assert calls[0] == 1 and calls[1] > 10 and max(calls[2:]) <= 3 * REFINE_POINTS


def test_labels_of_three_classes_from_the_third(reference: pd.DataFrame) -> None:
    """The issue's 500: an instance of the third class without desired_class."""
    schema = FeatureSchema.infer(reference, target=paths.TARGET, immutable=IMMUTABLE)

    def bands(rows):
        week = column(rows, "hours-per-week").astype(float)
        return np.where(week < 35, "2", np.where(week < 45, "3", "10"))

    explainer = CounterfactualExplainer(
        schema, reference, BlackBox(bands, OutputKind.labels, class_names=["2", "3", "10"])
    )
    explanation = explainer.explain(applicant(reference, 0, **{"hours-per-week": 50}))
    assert explanation.result.desired == "3"
    assert explanation.result.counterfactuals[0].values["hours-per-week"] == 44
