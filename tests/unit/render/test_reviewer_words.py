"""Pages in a reviewer's words (issue 31), rendered in process: category labels wherever a
value is shown, no scientific notation, the same percentage in the sentence and the facts,
technical details collapsed, counts of what is shown, the applicant as rows (every feature
visible at any width), a decision line on the counterfactuals' chart, "row k of n"."""

from __future__ import annotations

import json
import re

from explainer_service.presentation.figures import figure_for
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import RowLinks, render_explanation
from explainers import Explanation
from explainers.explanation import ShapFidelity
from tests.helpers.browser import element_text, visible_text
from tests.helpers.render_factories import INSTANCE, counterfactual, counterfactuals, shap

LABELS = {"marital-status": {"Never-married": "never married"}}


def labelled(words: Vocabulary) -> Vocabulary:
    return Vocabulary(words.classes, words.features, words.subject, words.subjects, LABELS)


def page(explanation: Explanation, words: Vocabulary, **kwargs: object) -> str:
    return render_explanation(
        explanation,
        "id",
        model_name="income",
        model_version=None,
        local_methods=["anchors", "shap", "counterfactual"],
        immutable=["age"],
        words=words,
        **kwargs,
    )


def test_category_labels_replace_the_codes_everywhere(words: Vocabulary) -> None:
    for explanation in (
        shap(),
        counterfactuals(counterfactual(**{"marital-status": ("Never-married", "Divorced")})),
    ):
        html = page(explanation, labelled(words))
        text = visible_text(html)
        assert "never married" in text
        assert "Never-married" not in text, explanation.method
        figure = figure_for(explanation, labelled(words))
        assert figure is not None and "Never-married" not in json.dumps(
            figure.to_plotly_json(), default=str
        )


def test_no_scientific_notation_and_one_percentage(words: Vocabulary) -> None:
    explanation = shap()
    tiny = ShapFidelity(model_output=0.255, base_plus_sum=0.255, additivity_error=1.11e-16)
    html = page(explanation.model_copy(update={"fidelity": tiny}), words)
    text = visible_text(html)
    assert not re.search(r"\d[eE][-+]?\d", text), text
    # probabilities are percentages in the facts as in the sentence, never "0.77"
    assert "refused (77% chance)" in text and "0.77" not in text
    sentence = element_text(html, "sentence")
    assert "a 26% chance of being approved; the average applicant gets 24%" in sentence
    assert "Average applicant 24% → this applicant 26%" in text  # the table's header alike


def test_technical_details_are_collapsed(words: Vocabulary) -> None:
    html = page(shap(), words)
    details = html[html.index('<details id="technical">') : html.index("</details>")]
    assert " open" not in details.split(">")[0]
    for said in ("Fidelity", "Cost", "additivity error", "Parameters"):
        assert said in details
    outside = html.replace(details, "")
    assert "additivity error" not in outside and "model calls" not in outside


def test_counts_are_of_the_counterfactuals_shown(words: Vocabulary) -> None:
    explanation = counterfactuals(
        counterfactual(**{"hours-per-week": (40, 50)}),
        counterfactual(False, **{"hours-per-week": (40, 45)}),
        counterfactual(**{"age": (39, 45)}),
    )
    fidelity = explanation.fidelity.model_copy(update={"generated": 4, "valid": 4})
    html = page(explanation.model_copy(update={"fidelity": fidelity}), words)
    assert "2 of the 3 counterfactuals shown are valid" in element_text(html, "fidelity")
    headers = re.findall(r"<th>counterfactual \d+</th>", html)
    assert len(headers) == 3


def test_the_applicant_is_a_table_of_rows(words: Vocabulary) -> None:
    html = page(shap(), words)
    table = html[html.index('id="instance"') : html.index("</table>", html.index('id="instance"'))]
    rows = re.findall(r'<th scope="row"[^>]*>([^<]+)</th><td>([^<]+)</td>', table)
    assert [name for name, _ in rows] == [words.feature(f) for f in INSTANCE]


def test_the_counterfactual_chart_has_a_decision_line(words: Vocabulary) -> None:
    explanation = counterfactuals(counterfactual(**{"hours-per-week": (40, 50)}))
    figure = figure_for(explanation, words)
    assert figure is not None
    lines = [s for s in figure.layout.shapes if s.y0 == 0.5 and s.y1 == 0.5]
    assert len(lines) == 1
    assert figure.data[0].text == ("23%", "60%")  # chances as the sentence says them


def test_row_k_of_n_links_to_the_other_rows(words: Vocabulary) -> None:
    rows = RowLinks(
        1, 3, {0: "/explain?instance=0", 1: "/explain?instance=1", 2: "/explain?instance=2"}
    )
    html = page(shap(), words, rows=rows)
    assert element_text(html, "rows").startswith("Row 2 of 3 of the payload")
    assert re.findall(r'class="row-link" href="([^"]+)"', html) == [
        "/explain?instance=0",
        "/explain?instance=2",
    ]


def test_a_what_if_links_back(words: Vocabulary) -> None:
    html = page(shap(), words, back="/explanations/first?format=html")
    assert 'id="back-link" href="/explanations/first?format=html"' in html
