"""A text explanation's page and notebook card: the text escaped and shown inertly, coloured
token by token, the anchor's sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer_service.client._html import card
from explainer_service.presentation.text import inert
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.pages import render_explanation
from explainers import BlackBox, Explanation, FeatureSchema
from explainers.text import get_text_explainer_class
from tests.helpers.servers.keyword_model import proba

HOSTILE = "<script>alert(1)</script> I want a refund \u202egnp.exe \u200b"
REFERENCE = pd.DataFrame({"message": ["please refund me", "great food"]})


@pytest.fixture(scope="module", params=["anchors", "shap", "lime"])
def explanation(request: pytest.FixtureRequest) -> Explanation:
    schema = FeatureSchema.infer(REFERENCE, text=["message"])
    box = BlackBox(
        lambda rows: np.array(proba([r[0] for r in rows])), class_names=["other", "flagged"]
    )
    cls = get_text_explainer_class(request.param)
    return cls(schema, REFERENCE, box, {"seed": 1}).explain([HOSTILE])


def test_the_page_shows_the_text_inertly(explanation: Explanation) -> None:
    words = Vocabulary(subject="message", subjects="messages")
    html = render_explanation(
        explanation, "x1", model_name="m", model_version=None, local_methods=[], immutable=[],
        words=words,
    )  # fmt: skip
    assert "<script>alert" not in html and "&lt;" in html
    assert "\u202e" not in html and "\u200b" not in html
    assert "⟨U+202E⟩" in html and "⟨U+200B⟩" in html
    if explanation.method == "anchors":
        assert "As long as the message contains “refund”" in html
        assert '<mark class="token anchor"' in html
    else:
        assert "background-color: rgba(213, 94, 0" in html  # refund, towards "flagged"


def test_the_notebook_card_too(explanation: Explanation) -> None:
    html = card(explanation, Vocabulary(), url=None, plotlyjs="service", base_url="http://s")
    assert "<script>alert" not in html and "\u202e" not in html
    assert "refund" in html


def test_inert_keeps_text_and_new_lines() -> None:
    assert inert("a\nb\tc é 日本") == "a\nb\tc é 日本"
    assert inert("x\u202ey\x00") == "x⟨U+202E⟩y⟨U+0000⟩"


def test_the_page_links_the_other_methods(explanation: Explanation) -> None:
    html = render_explanation(
        explanation, "x1", model_name="m", model_version=None,
        local_methods=["anchors", "shap", "lime"], immutable=[],
    )  # fmt: skip
    others = {"anchors", "shap", "lime"} - {explanation.method}
    for method in others:
        assert f"/explain?method={method}&amp;payload=" in html


def test_the_sentence_names_the_word(explanation: Explanation) -> None:
    from explainer_service.presentation.text import anchor_sentence

    sentence = anchor_sentence(explanation, Vocabulary(subject="message", subjects="messages"))
    assert "“refund”" in sentence
    if explanation.method == "shap":  # exact: no other word moves the answer
        assert sentence == "“refund” pushes most towards flagged."


@pytest.mark.parametrize(
    ("patterns", "met"),
    [(("please refund the {}", "no refund needed {}"), True),
     (("please refund the {}", "please no refund the {}"), False)],
)  # fmt: skip
def test_the_page_says_how_the_anchor_does_on_real_texts(
    patterns: tuple[str, str], met: bool
) -> None:
    texts = [p.format(i) for p in patterns for i in range(60)]
    reference = pd.DataFrame({"message": texts})
    box = BlackBox(
        lambda rows: np.array(proba([r[0] for r in rows])), class_names=["other", "flagged"]
    )
    schema = FeatureSchema.infer(reference, text=["message"])
    explanation = get_text_explainer_class("anchors")(schema, reference, box).explain(
        ["please refund the <b>parcel</b>"]
    )
    assert explanation.result.corpus_met is met  # type: ignore[union-attr]
    words = Vocabulary(subject="message", subjects="messages")
    html = render_explanation(
        explanation, "x1", model_name="m", model_version=None, local_methods=[], immutable=[],
        words=words,
    )  # fmt: skip
    if met:
        assert '<p class="sentence" id="corpus-check">On the 60 reference messages' in html
        assert "the model predicts flagged too: 100%" in html
    else:
        assert '<p class="warning" id="corpus-check">Caution: this holds on perturbed' in html
        assert "On the 120 reference messages that contain it, the model predicts " in html
        assert "flagged in 50%, short of the 95%" in html
    assert "<b>parcel" not in html
    card_html = card(explanation, words, url=None, plotlyjs="service", base_url="http://s")
    assert ("Caution" in card_html) is not met
