"""The record page of a logged inference: every value a logger sent is escaped."""

from __future__ import annotations

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render.inference import ExplanationRow, render_inference
from explainer_service.store.inferences import Inference

XSS = '<script>alert("x")</script>'


def test_the_record_page_escapes_what_loggers_sent() -> None:
    inference = Inference(
        f"id{XSS}", "e1", 0, 1, "kserve", f"m{XSS}", XSS, XSS, XSS, "v2", XSS, XSS,
        "2026-12-06T10:00:00Z", "2026-12-06T10:00:00Z", [XSS, 1], {"scores": [0.8, 0.2]},
        "<=50K", 0.8, {"x-tenant": XSS},
    )  # fmt: skip
    row = ExplanationRow(
        "abc", "anchors", "2026-12-06T10:01:00Z", "done", "refused", "precision 1", "1 call",
        "no: it answered approved", False, "/explanations/abc?format=html",
    )  # fmt: skip
    html = render_inference(
        inference,
        features={"workclass": XSS, "age": 1},
        answer="refused (probability 0.80)",
        agreement="yes",
        explanations=[row],
        explain_links={"anchors": "/inferences/id/explain?method=anchors"},
        json_link="/inferences/id",
        model_name="income",
        model_version=None,
        words=Vocabulary(features={"workclass": "employer type"}),
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "employer type" in html and 'class="away"' in html
    assert 'href="/inferences/id/explain?method=anchors"' in html


def test_only_the_answer_logged_offers_nothing_to_explain() -> None:
    inference = Inference(
        "e2", "e2", 0, 1, "seldon", "income", None, None, None, None, None, None,
        "2026-12-06T10:00:00Z", "2026-12-06T10:00:00Z", None, {"scores": [0.8, 0.2]},
        "<=50K", 0.8, {},
    )  # fmt: skip
    html = render_inference(
        inference, features=None, answer="refused", agreement="not checked yet",
        explanations=[], explain_links={"anchors": "/x"}, json_link="/inferences/e2",
        model_name="income", model_version="3", words=Vocabulary(),
    )  # fmt: skip
    assert "Only the model's answer was logged" in html
    assert 'id="explain"' not in html and "version 3" in html


def test_times_are_printed_as_pages_print_them() -> None:
    from explainer_service.render.inference import when

    assert when("2026-12-06T10:00:00.123+00:00") == "2026-12-06 10:00:00 UTC"
    assert when("2026-12-06T11:00:00+01:00") == "2026-12-06 10:00:00 UTC"
    assert when("2026-12-06T10:00:00Z") == "2026-12-06 10:00:00 UTC"
    assert when("yesterday") == "yesterday" and when(None) == "—"
