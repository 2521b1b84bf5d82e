"""The pages of a comparison: what a reviewer reads, in the configured words."""

from __future__ import annotations

from datetime import UTC, datetime

from explainer_service.comparison import (
    Comparison,
    CounterfactualCheck,
    ModelSide,
    RuleCheck,
    ShapDifference,
    WindowChange,
    WindowComparison,
)
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.comparison import render_comparison, render_window_comparison
from explainers.explanation import Change, Condition, Prediction

WORDS = Vocabulary(
    classes={">50K": "approved", "<=50K": "refused"},
    features={"capital-gain": "capital gains"},
    subject="applicant",
    subjects="applicants",
)


def side(version: str, label: str) -> ModelSide:
    return ModelSide(
        version=version,  # type: ignore[arg-type]
        name="income",
        model_version="2" if version == "candidate" else None,
        explanation_id=f"id-{version}",
        links={"html": f"/explanations/id-{version}?format=html"},
        prediction=Prediction(label=label),
    )


def comparison(method: str = "anchors", **sections) -> Comparison:
    return Comparison(
        method=method,
        instance={"capital-gain": 9000},
        seed=7,
        model=side("model", ">50K"),
        candidate=side("candidate", "<=50K"),
        decision_changed=True,
        model_calls=2,
        rows=800,
        **sections,
    )


def test_the_decision_and_a_rule_that_fails_on_the_candidate() -> None:
    rule = RuleCheck(
        of="model", rule=["capital-gain > 4787"],
        conditions=[Condition(feature="capital-gain", operator=">", value=4787)],
        decision=">50K", precision=1.0, other="candidate", precision_on_other=0.34,
        samples=400, threshold=0.95, holds_on_other=False,
    )  # fmt: skip
    html = render_comparison(comparison(anchors=[rule]), model_name="income", words=WORDS)
    assert "The decision changes" in html
    assert "<strong>approved</strong>" in html and "<strong>refused</strong>" in html
    assert "the candidate (2)" in html
    assert "capital-gain &gt; 4787" in html and "34%" in html and "<strong>no</strong>" in html
    assert 'href="/explanations/id-candidate?format=html"' in html


def test_shap_and_counterfactuals_in_words() -> None:
    shap = [ShapDifference(feature="capital-gain", value=9000, model=0.86, candidate=0.0,
                           difference=-0.86)]  # fmt: skip
    cf = CounterfactualCheck(
        of="model",
        changes=[Change(feature="capital-gain", from_value=0, to_value=5001)],
        values={"capital-gain": 5001}, desired=">50K",
        model=Prediction(label=">50K"), candidate=Prediction(label="<=50K"),
        valid_for_model=True, valid_for_candidate=False,
    )  # fmt: skip
    html = render_comparison(
        comparison(shap=shap, shap_output=">50K", counterfactuals=[cf], method="counterfactual"),
        model_name="income",
        words=WORDS,
    )
    assert "capital gains" in html and "towards approved" in html
    # the figure: a data block the page's own script draws (no inline script)
    assert '<script src="/static/plotly.min.js"></script>' in html
    assert '<script type="application/json" id="figure-data">' in html
    assert "capital gains: 0 → 5,001" in html  # values as the page shows them (value filter)


def test_the_window_page_says_the_share() -> None:
    now = datetime.now(UTC)
    window = WindowComparison(
        since=now, until=now, rescored=60, unanswered=2, truncated=False, changed=8,
        share_changed=8 / 60,
        changes=[WindowChange(logged="<=50K", candidate="<=50K", count=40),
                 WindowChange(logged=">50K", candidate="<=50K", count=8),
                 WindowChange(logged=">50K", candidate=">50K", count=12)],
        model="income", candidate="income", candidate_version="2", model_calls=1, rows=60,
    )  # fmt: skip
    html = render_window_comparison(window, model_name="income", words=WORDS)
    assert "<strong>8</strong> of 60" in html and "13%" in html
    assert "2 logged without an answer" in html
    assert "<td>approved</td><td>refused</td><td>8</td>" in html
