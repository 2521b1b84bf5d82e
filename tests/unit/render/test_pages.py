"""Explanation pages rendered in process: the user's words, one meaning per colour, a SHAP
axis fitted to the path from the base value, no "-0.000", the coverage warning, and the
coverage flag, SHAP's standard errors and counterfactuals' plausibility."""

from __future__ import annotations

import re

import pytest

from explainer_service.presentation.colours import AWAY, NEUTRAL, PALETTE, TOWARDS
from explainer_service.presentation.figures import figure_for
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import render_explanation
from explainers import Explanation
from explainers.explanation import ShapFidelity
from tests.helpers.browser import element_text, visible_text
from tests.helpers.render_factories import (
    anchors,
    counterfactual,
    counterfactuals,
    importance,
    shap,
)


def page(explanation: Explanation, words: Vocabulary) -> str:
    return render_explanation(
        explanation,
        "id",
        model_name="income",
        model_version=None,
        local_methods=["anchors", "shap", "counterfactual"],
        immutable=["age"],
        words=words,
    )


def test_the_shap_page_speaks_the_user_s_words(words: Vocabulary) -> None:
    html = page(shap(), words)
    text = visible_text(html)
    assert "Why refused?" in text and "refused (77% chance)" in text
    sentence = element_text(html, "sentence")
    assert sentence.startswith("The model gave this applicant a 26% chance of being approved")
    assert "hours worked per week and age pushed it up most" in sentence
    for raw in ("<=50K", ">50K", "hours-per-week", "marital-status"):
        assert raw not in text, raw
    assert "marital status = Never-married" in text  # the table
    assert '"hours worked per week = 40"' in html  # the figure's axis


def test_no_number_on_a_page_reads_negative_zero(words: Vocabulary) -> None:
    """marital status's -0.0004 reads 0.000, in the table and on the figure's bar."""
    explanation = shap()
    html = page(explanation, words)
    assert "-0.000" not in visible_text(html)
    assert "0.000" in visible_text(html)
    figure = figure_for(explanation, words)
    assert "-0.000" not in figure.data[0].text and "0.000" in figure.data[0].text


def test_the_shap_axis_spans_the_path_from_the_base_value(words: Vocabulary) -> None:
    explanation = shap()
    figure = figure_for(explanation, words)
    low, high = figure.layout.xaxis.range
    path = [0.24, 0.24 - 0.06, 0.18 + 0.05, 0.23 + 0.031, 0.261 - 0.0004]  # largest first
    assert low < min(path) and high > max(path)
    assert high - low < 3 * (max(path) - min(path))  # the bars fill the plot: not 0 to 0.3
    assert figure.data[0].base == 0.24


@pytest.mark.parametrize(("output", "up"), [("<=50K", TOWARDS), (">50K", AWAY)])
def test_colours_mean_towards_or_away_from_the_prediction(words, output: str, up: str) -> None:
    """Raising P(refused) pushes towards refused (the prediction); raising P(approved) away."""
    explanation = shap(output)
    waterfall = figure_for(explanation, words).data[0]
    down = AWAY if up == TOWARDS else TOWARDS
    assert waterfall.increasing.marker.color == up and waterfall.decreasing.marker.color == down
    html = page(explanation, words)
    name = {TOWARDS: "towards", AWAY: "away"}
    assert re.search(rf'class="{name[up]}">\+0\.050<', html)  # hours worked per week
    assert re.search(rf'class="{name[down]}">-0\.060<', html)  # gender
    assert 'class="neutral">0.000<' in html  # marital status: no push at this precision
    legend = element_text(html, "legend")
    assert "pushes towards refused, the prediction" in legend
    assert "pushes away from refused" in legend


def test_every_page_draws_with_the_palette_only(words: Vocabulary) -> None:
    """One palette for all pages: its colours in the stylesheet, and no other in a figure."""
    changed = counterfactuals(counterfactual(**{"hours-per-week": (40, 50)}))
    relied_on = importance(age=(0.02, 0.01))
    for explanation in (anchors(0.3), shap(), changed, relied_on):
        figure = figure_for(explanation, words)
        colours = re.findall(r'"#[0-9a-fA-F]{6}"', figure.to_json().split('"template"')[0])
        assert {c.strip('"').lower() for c in colours} <= set(PALETTE.values()), explanation.method
        html = page(explanation, words)
        assert f"--towards: {TOWARDS}; --away: {AWAY}; --neutral: {NEUTRAL};" in html
        assert element_text(html, "sentence")
    assert "hours worked per week were 50 instead of 40" in page(changed, words)
    assert "What the model relies on" in page(relied_on, words)


def test_the_anchors_flag_decides_the_warning(words: Vocabulary) -> None:
    flagged = anchors(0.03, distinct_rows=1, min_coverage=0.05, low_coverage=True)
    html = page(flagged, words)
    warning = element_text(html, "coverage-warning")
    assert "describes 3% of the reference applicants, less than the 5% asked for" in warning
    assert "1 distinct row behind the samples" in html
    fine = anchors(0.004, distinct_rows=400, min_coverage=0.001, low_coverage=False)
    assert 'id="coverage-warning"' not in page(fine, words)


def test_shap_standard_errors_are_shown(words: Vocabulary) -> None:
    html = page(shap(standard_error=0.0123), words)
    assert "<th>standard error</th>" in html and "<td>0.012</td>" in html
    assert "<th>standard error</th>" not in page(shap(), words)
    exact = shap(standard_error=0.0)
    fidelity = ShapFidelity(**{**exact.fidelity.model_dump(), "exact": True})
    exact = exact.model_copy(update={"fidelity": fidelity})
    assert "<th>standard error</th>" not in page(exact, words)  # a column of zeros says nothing


def test_counterfactual_plausibility_is_shown(words: Vocabulary) -> None:
    near = counterfactual(**{"hours-per-week": (40, 50)}).model_copy(
        update={"nearest_distance": 0.02, "plausible": True}
    )
    far = counterfactual(**{"hours-per-week": (40, 99)}).model_copy(
        update={"nearest_distance": 0.7, "plausible": False, "violations": ["hours-per-week range"]}
    )
    text = visible_text(page(counterfactuals(near, far), words))
    assert "distance to the nearest real applicant" in text
    assert "0.020" in text and "0.700 (implausible); breaks hours-per-week range" in text
    assert "plausible within 0.250 of a real row" in text


def test_a_page_links_to_its_instance_explained_by_each_other_local_method(
    words: Vocabulary,
) -> None:
    html = page(shap(), words)
    linked = re.findall(r'href="[^"]*explain\?method=(\w+)&amp;payload=', html)
    assert linked == ["anchors", "counterfactual"]
