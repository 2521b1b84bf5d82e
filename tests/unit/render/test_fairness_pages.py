"""The protected attributes on pages, rendered in process: the box of an explanation page
(its fairness block in the user's words) and the page of ``GET /fairness``."""

from __future__ import annotations

from explainer_service.inferences.parity import FlipCounts, ParityReport, group_rates
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import render_explanation
from explainer_service.render.fairness import render_fairness
from explainers import Explanation
from explainers.fairness_results import Fairness, Flip, ProtectedAttribute
from tests.helpers.browser import element_text, visible_text
from tests.helpers.render_factories import INSTANCE, shap


def page(explanation: Explanation, words: Vocabulary) -> str:
    return render_explanation(
        explanation,
        "id",
        model_name="income",
        model_version=None,
        local_methods=["anchors", "shap", "counterfactual"],
        immutable=["age", "gender"],
        words=words,
    )


def block(flipped: bool, share: float) -> Fairness:
    """The gender of the SHAP factory's applicant (a man, refused), flipped to Female."""
    after = ">50K" if flipped else "<=50K"
    flip = Flip(
        value="Female", label=after, probability=0.2 if flipped else 0.77,
        change=-0.57 if flipped else 0.0, flipped=flipped,
    )  # fmt: skip
    flags: list = (["shap"] if share >= 0.1 else []) + (["flip"] if flipped else [])
    gender = ProtectedAttribute(
        feature="gender", value=INSTANCE["gender"], immutable=True, shap_share=share,
        flips=[flip], flags=flags,
    )  # fmt: skip
    return Fairness(
        protected=["gender"], attributes=[gender], shap_share=share, shap_threshold=0.1,
        flagged=["gender"] if flags else [], flags=flags, flipped=flipped,
        max_change=abs(flip.change or 0), flip_rows=1,
    )  # fmt: skip


def with_block(fairness: Fairness) -> Explanation:
    return shap().model_copy(update={"fairness": fairness})


def test_a_flagged_attribute_is_named_in_the_user_s_words(words: Vocabulary) -> None:
    html = page(with_block(block(flipped=True, share=0.42)), words)
    sentence = element_text(html, "fairness-sentence")
    assert sentence == (
        "gender may have decided this: at least 10% of the contributions; changing it alone "
        "changes the prediction."
    )
    shown = visible_text(html)
    assert "gender = Male" in shown and "42%" in shown
    # the class in the user's words, the change of the chance of the applicant's own class
    assert "Female: approved (chance of refused -57 points) — changed" in shown
    assert 'data-attribute="gender" class="flagged"' in html
    assert '<section id="fairness" class="warning">' in html


def test_an_attribute_that_decided_nothing_says_so(words: Vocabulary) -> None:
    html = page(with_block(block(flipped=False, share=0.02)), words)
    assert element_text(html, "fairness-sentence") == (
        "No protected attribute (gender) decided this: none is in the explanation, and "
        "changing each alone does not change the prediction."
    )
    assert "Female: refused (chance of refused 0 points)" in visible_text(html)
    assert '<section id="fairness" class="muted">' in html
    assert "flagged" not in html.split('id="fairness"')[1]


def test_no_block_no_box(words: Vocabulary) -> None:
    assert 'id="fairness"' not in page(shap(), words)


def test_the_parity_page_says_the_figures(words: Vocabulary) -> None:
    values = ["Male"] * 10 + ["Female"] * 8
    positive = [True] * 5 + [False] * 5 + [True] * 2 + [False] * 6
    groups, reference = group_rates(values, positive, 0.8)
    report = ParityReport(
        attribute="gender", window="7d", since="2026-12-01T10:00:00.000+00:00",
        until="2026-12-08T10:00:00.000+00:00", positive_class=">50K", logged=18, read=18,
        groups=groups, reference_group=reference, statistical_parity_difference=0.25 - 0.5,
        disparate_impact=0.5, four_fifths_threshold=0.8, four_fifths=False,
        flips=FlipCounts(tested=4, flipped=1, by_value={"Female": 1}, explanations_read=6),
    )  # fmt: skip
    html = render_fairness(
        report.model_dump(mode="json"), model_name="income", words=words, json_link="/j"
    )
    assert element_text(html, "parity-sentence") == (
        "Approved for 25% of Female applicants and 50% of Male applicants: a ratio of 0.50, "
        "below the four-fifths rule (0.80)."
    )
    assert element_text(html, "spd") == "-0.250" and element_text(html, "di") == "0.500"
    assert element_text(html, "flip-sentence") == (
        "1 of 4 explained applicants would have been decided otherwise with another gender "
        "(1 as Female)."
    )
    assert 'data-group="Female" class="flagged"' in html
    assert 'data-group="Male" class=""' in html
