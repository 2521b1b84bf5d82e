"""The what-if editor's fields: categories in words, numbers within the reference data's
range, immutable features marked, and the same bounds held by the service."""

from __future__ import annotations

import pandas as pd
import pytest

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.runtime.editor_fields import (
    CONFIGURED,
    REFERENCE,
    Range,
    check_values,
    editor_fields,
    ranges_of,
)
from explainers import FeatureSchema, InvalidValueError

DATA = pd.DataFrame(
    {
        "age": [17, 40, 90],
        "relationship": ["Husband", "Not-in-family", "Wife"],
        "hours-per-week": [1.0, 40.0, 99.0],
        "grade": [1, 2, 3],
    }
)
WORDS = Vocabulary(
    features={"hours-per-week": "hours worked per week"},
    categories={"relationship": {"Not-in-family": "not in a family"}},
)


@pytest.fixture
def schema() -> FeatureSchema:
    return FeatureSchema.infer(
        DATA,
        immutable=["age"],
        categorical=["relationship", "grade"],
        overrides={"grade": {"wire": "value"}},
    )


def test_fields_speak_the_page_s_words(schema: FeatureSchema) -> None:
    instance = {"age": 40, "relationship": "Not-in-family", "hours-per-week": 40.0, "grade": 2}
    fields = {f.name: f for f in editor_fields(schema, instance, ranges_of(schema, DATA), WORDS)}
    relationship = fields["relationship"]
    assert relationship.kind == "category" and relationship.value == "Not-in-family"
    assert ("Not-in-family", "not in a family") in relationship.options
    assert ("Husband", "Husband") in relationship.options  # no label: as it is
    hours = fields["hours-per-week"]
    assert (hours.label, hours.kind, hours.low, hours.high) == (
        "hours worked per week",
        "number",
        "1",
        "99",
    )
    assert hours.value == "40"  # as the input shows it, without ".0"
    assert fields["age"].immutable and not hours.immutable
    assert fields["age"].step == "1"  # whole numbers in the data
    grade = fields["grade"]
    assert grade.kind == "category" and grade.numeric  # sent back as numbers


def test_a_text_model_has_no_editor() -> None:
    texts = pd.DataFrame({"review": ["good", "bad"]})
    schema = FeatureSchema.infer(texts, text=["review"])
    assert editor_fields(schema, {"review": "good"}, {}, WORDS) == []


def test_the_service_holds_the_editor_s_bounds() -> None:
    ranges = {"hours-per-week": Range(1, 99)}
    check_values({"hours-per-week": 99, "relationship": "Wife"}, ranges)
    with pytest.raises(InvalidValueError) as refused:
        check_values({"hours-per-week": 100}, ranges)
    assert refused.value.feature == "hours-per-week"
    assert "1 to 99" in str(refused.value)


def test_configured_ranges_bound_the_editor_bound_by_bound() -> None:
    """features.overrides' min and max, where set, are the bounds; the reference data's range
    gives the others. A refusal says which range it held."""
    overrides = {"hours-per-week": {"min": 20, "max": 60}, "age": {"max": 70}}
    schema = FeatureSchema.infer(DATA, categorical=["relationship", "grade"], overrides=overrides)
    ranges = ranges_of(schema, DATA, overrides)
    assert ranges["hours-per-week"] == Range(20, 60, CONFIGURED)
    assert ranges["age"] == Range(17, 70, CONFIGURED)  # the data's 17, the configured 70
    assert ranges_of(schema, DATA)["hours-per-week"] == Range(1, 99, REFERENCE)
    with pytest.raises(InvalidValueError) as refused:
        check_values({"hours-per-week": 61}, ranges)
    assert refused.value.feature == "hours-per-week"
    assert "20 to 60" in str(refused.value) and "features.overrides" in str(refused.value)
    check_values({"hours-per-week": 60, "age": 70}, ranges)


def test_the_instance_s_own_values_stay_offered_outside_the_range() -> None:
    """An applicant who works 70 hours, over a configured 60: the field holds 70 and the
    service takes it unchanged, but not 71."""
    ranges = {"hours-per-week": Range(20, 60, CONFIGURED)}
    schema = FeatureSchema.infer(DATA, categorical=["relationship", "grade"])
    instance = {"age": 40, "relationship": "Wife", "hours-per-week": 70, "grade": 2}
    hours = {f.name: f for f in editor_fields(schema, instance, ranges, WORDS)}["hours-per-week"]
    assert (hours.low, hours.high) == ("20", "70")
    check_values({"hours-per-week": 70}, ranges, kept=instance)
    with pytest.raises(InvalidValueError):
        check_values({"hours-per-week": 71}, ranges, kept=instance)
    with pytest.raises(InvalidValueError):
        check_values({"hours-per-week": 70}, ranges)  # with no original, no exception
