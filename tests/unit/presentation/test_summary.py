"""The sentence at the top of each page: the user's words, the right numbers, the right
features, and the model's own names only where no words are configured."""

from __future__ import annotations

import math

from explainer_service.presentation.summary import (
    anchors_sentence,
    counterfactual_sentence,
    importance_sentence,
    join_words,
    rule_words,
    shap_sentence,
    summary,
)
from explainer_service.presentation.vocabulary import Vocabulary
from explainers.explanation import Condition, Contribution, ShapResult
from tests.helpers.render_factories import (
    counterfactual,
    counterfactuals,
    importance,
    shap,
)
from tests.unit.explainers.test_explanation import envelope


def test_lists_read_as_english() -> None:
    assert [join_words(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]


def test_anchors_sentence(words: Vocabulary) -> None:
    conditions = [
        Condition(feature="marital-status", operator="=", value="Married-civ-spouse"),
        Condition(feature="education-num", operator="<=", value=12.0),
    ]
    assert anchors_sentence("<=50K", conditions, 0.9657, 0.0412, words) == (
        "The model predicts refused for this applicant; as long as marital status is "
        "Married-civ-spouse and years of education ≤ 12, it predicts refused for 97% of "
        "similar applicants (the rule describes 4% of applicants)."
    )
    empty = anchors_sentence(">50K", [], 0.99, 1.0, words)
    assert empty == (
        "The model predicts approved for this applicant and for 99% of all applicants: "
        "no condition is needed."
    )


def test_two_bounds_on_one_feature_read_as_a_range(words: Vocabulary) -> None:
    conditions = [
        Condition(feature="hours-per-week", operator=">", value=42),
        Condition(feature="gender", operator="=", value="Male"),
        Condition(feature="hours-per-week", operator="<=", value=47.0),
        Condition(feature="age", operator=">=", value=30),
        Condition(feature="age", operator=">", value=41),
    ]
    assert rule_words(conditions, words) == [
        "42 < hours worked per week ≤ 47",
        "gender is Male",
        "age ≥ 30",  # two lower bounds: as they are
        "age > 41",
    ]


def test_without_configured_words_the_model_s_names_are_used() -> None:
    condition = Condition(feature="hours-per-week", operator=">", value=45)
    sentence = anchors_sentence(">50K", [condition], 0.951, 0.2, Vocabulary())
    assert "predicts >50K for this case" in sentence and "hours-per-week > 45" in sentence


def shap_result(output: str = ">50K", link: str = "identity", base: float = 0.24) -> ShapResult:
    shaps = {"capital-gain": 0.08, "age": 0.03, "gender": -0.0004, "relationship": -0.12}
    return ShapResult(
        output=output,
        link=link,
        base_value=base,
        contributions=[Contribution(feature=f, value=1, shap=s) for f, s in shaps.items()],
    )


def test_shap_sentence_names_the_strongest_pushes(words: Vocabulary) -> None:
    """gender's -0.0004 is noise next to relationship's -0.12: not named."""
    assert shap_sentence(shap_result(), 0.2296, words) == (
        "The model gave this applicant a 23% chance of being approved; the average applicant gets "
        "24%; capital gains and age pushed it up most, relationship pushed it down most."
    )


def test_shap_sentence_speaks_of_chances_on_the_logit_scale(words: Vocabulary) -> None:
    result = shap_result(link="logit", base=0.0)
    sentence = shap_sentence(result, math.log(0.3 / 0.7), words)
    assert "a 30% chance of being approved; the average applicant gets 50%" in sentence


def test_shap_sentence_of_a_regression(words: Vocabulary) -> None:
    result = ShapResult(
        output="value",
        link="identity",
        base_value=210.0,
        contributions=[Contribution(feature="age", value=40, shap=15.5)],
    )
    assert shap_sentence(result, 225.5, words) == (
        "The model's answer for this applicant is 225.5; the average applicant gets 210; "
        "age pushed it up most, nothing pushed it down noticeably."
    )


def test_small_contributions_are_not_named_as_reasons(words: Vocabulary) -> None:
    """-0.004 and -0.001 next to +0.3: under 5% of the total, not why (issue 31)."""
    result = ShapResult(
        output=">50K",
        link="identity",
        base_value=0.24,
        contributions=[
            Contribution(feature=f, value=1, shap=s)
            for f, s in {"capital-gain": 0.3, "gender": -0.004, "age": -0.001}.items()
        ],
    )
    sentence = shap_sentence(result, 0.535, words)
    assert sentence.endswith(
        "capital gains pushed it up most, nothing pushed it down noticeably."
    ), sentence


def test_counterfactual_sentence_takes_the_valid_one_with_fewest_changes(words) -> None:
    result = counterfactuals(
        counterfactual(True, **{"hours-per-week": (40, 50), "occupation": ("Sales", "Tech")}),
        counterfactual(False, **{"capital-gain": (0, 22232)}),
        counterfactual(True, **{"hours-per-week": (40, 50)}),
    ).result
    assert counterfactual_sentence(result, words) == (
        "The model would predict approved for this applicant if hours worked per week were "
        "50 instead of 40."
    )


def test_counterfactual_sentence_says_why_none_was_found(words: Vocabulary) -> None:
    result = counterfactuals(
        counterfactual(False, age=(39, 30)),
        message="every candidate broke a constraint (age can only go up).",
    ).result
    assert counterfactual_sentence(result, words) == (
        "No change was found that makes the model predict approved for this applicant: every "
        "candidate broke a constraint (age can only go up)."
    )
    silent = result.model_copy(update={"message": None})
    assert counterfactual_sentence(silent, words).endswith("for this applicant.")


def test_importance_sentence(words: Vocabulary) -> None:
    result = importance(
        **{
            "marital-status": (0.0318, 0.004),
            "capital-gain": (0.0272, 0.002),
            "relationship": (0.0254, 0.005),
            "age": (0.02, 0.004),
            "ethnicity": (0.0012, 0.0016),
            "gender": (-0.0004, 0.001),
        }
    ).result
    assert importance_sentence(result, words) == (
        "The model relies most on marital status, capital gains and relationship: shuffling "
        "each lowers its accuracy of 0.884 by 0.032, 0.027 and 0.025 on average; ethnicity "
        "and gender make no clear difference."
    )
    nothing = importance(age=(-0.001, 0.002)).result
    assert importance_sentence(nothing, words) == (
        "Shuffling no feature lowers the model's accuracy of 0.884: it relies on none of them."
    )


def test_every_method_has_its_sentence(words: Vocabulary) -> None:
    assert summary(envelope(), words).startswith("The model predicts approved for this applicant")
    assert summary(shap(), words).startswith("The model gave this applicant a 26% chance")
    changed = counterfactuals(counterfactual(**{"hours-per-week": (40, 50)}))
    assert summary(changed, words).startswith("The model would predict approved")
    relied_on = importance(age=(0.02, 0.01))
    assert summary(relied_on, words).startswith("The model relies most on age")
