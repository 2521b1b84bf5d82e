"""The text row's and the reference comparisons' pure parts: the summary of the reviews, the
tables, and how ``make bench`` records a comparison that fails or is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import markdown, run, text
from bench.run import Options


def review(seconds: float, rows: int, words: list[str], held: float | None) -> dict:
    return {
        "seconds": seconds,
        "calls": 3,
        "rows": rows,
        "words": words,
        "held_out_precision": held,
    }


def test_the_summary_leaves_out_anchors_no_held_out_review_holds() -> None:
    found = [review(0.1, 100, ["good"], 0.9), review(0.3, 300, ["a", "b"], None)]
    found.append(review(0.2, 200, [], 1.0))
    summary = text._summary(found)
    assert summary["median_seconds"] == 0.2 and summary["median_rows"] == 200
    assert summary["mean_words"] == 1.0
    assert (summary["measured"], summary["below_threshold"]) == (2, 1)
    assert summary["median_held_out_precision"] == pytest.approx(0.95)


def test_the_text_table_has_a_row_per_engine_and_the_shap_line() -> None:
    summary = text._summary([review(0.25, 133, ["not"], 0.48)])
    report = {
        "reviews": 1,
        "engines": {"ours": summary, "alibi AnchorText": {**summary, "median_rows": 501}},
        "shap": {
            "tokens": 50,
            "seconds": 0.53,
            "calls": 16,
            "rows": 1457,
            "max_standard_error": 0.024,
        },
    }
    shown = markdown.text_comparison(report)
    assert "| ours | 0.25 | 3 | 133 | 1.0 | n/a | 0 of 0 | 0.480 | 1 of 1 |" in shown
    assert "| alibi AnchorText | 0.25 | 3 | 501 |" in shown
    assert "SHAP, 50 tokens: 0.53 s, 16 calls, 1457 rows" in shown


def test_the_report_shows_the_comparisons_that_ran() -> None:
    summary = text._summary([review(0.25, 133, ["not"], 0.48)])
    shap = {"tokens": 50, "seconds": 0.5, "calls": 16, "rows": 1457, "max_standard_error": 0.02}
    report = {"text": {"reviews": 1, "engines": {"ours": summary}, "shap": shap}}
    shown = markdown.render(report)
    assert "## Text anchors against alibi's AnchorText" in shown
    assert "dice-ml" not in shown
    assert "AnchorText" not in markdown.render({})


def test_a_failed_comparison_is_an_error_and_a_skipped_one_is_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(settings: object) -> dict:
        raise RuntimeError(".venv-reference/bin/python is missing")

    def not_run(reviews: int, out: Path) -> dict:
        raise AssertionError("skipped")

    monkeypatch.setattr(run.counterfactuals, "measure", broken)
    monkeypatch.setattr(run.text, "measure", not_run)
    found, errors = run.references(Options(skip_text=True), tmp_path)
    assert found == {}
    assert errors == [
        "counterfactuals against dice-ml failed: .venv-reference/bin/python is missing"
    ]
    assert run.references(Options(skip_dice=True, skip_text=True), tmp_path) == ({}, [])


def test_held_out_precision_leaves_out_the_explained_review() -> None:
    holdout = [
        ("refund now", {"refund", "now"}, 1),
        ("no refund", {"no", "refund"}, 0),
        ("refund please", {"refund", "please"}, 1),
        ("great", {"great"}, 0),
    ]
    assert text.held_out(["Refund"], 1, "refund now", holdout) == (0.5, 2)
    assert text.held_out(["refund", "now"], 1, "refund now", holdout) == (None, 0)
    assert text.held_out([], 0, "great", holdout) == (pytest.approx(1 / 3), 3)


def test_the_text_table_shows_support_the_corpus_check_and_setup_rows() -> None:
    found = [review(0.2, 300, ["good"], 0.9), review(0.3, 310, ["good", "tea"], 1.0)]
    found[0].update(held_out_support=40, corpus_met=False, perturbed_precision=0.97)
    found[1].update(held_out_support=8, corpus_met=True, perturbed_precision=0.94)
    ours = {**text._summary(found), "setup_rows": 4000}
    plain = {**text._summary([review(0.1, 130, ["good"], 0.7)]), "setup_rows": 0}
    report = {
        "reviews": 2,
        "engines": {"ours": ours, "alibi AnchorText": plain},
        "shap": {"tokens": 50, "seconds": 0.5, "calls": 16, "rows": 1, "max_standard_error": 0},
    }
    shown = markdown.text_comparison(report)
    assert (
        "| ours | 0.25 | 3 | 305 | 1.5 | 0.955 | 1 of 2 | 0.950 | 1 of 2 | 24 | 1 of 2 | 4000 |"
        in shown
    )
    assert (
        "| alibi AnchorText | 0.10 | 3 | 130 | 1.0 | n/a | 0 of 0 | 0.700 | 1 of 1 | 0 | n/a | 0 |"
        in shown
    )


def test_perturbed_texts_keep_every_anchor_word_and_mask_the_rest_by_half() -> None:
    source = "Great tea, great price: great <b>value</b> and fast."
    texts = text.perturbed_texts(source, ["great", "fast"], 400, seed=1)
    assert texts is not None and len(texts) == 400
    others = [t for t in text.tokens(source) if t not in ("great", "fast")]
    masked = 0
    for t in texts:
        found = text.tokens(t)
        assert found.count("great") == 2 and "fast" in found  # every occurrence kept
        assert len(found) == len(text.tokens(source))  # each token kept or one UNK
        masked += found.count("UNK")
    assert abs(masked / (400 * len(others)) - 0.5) < 0.05
    assert text.perturbed_texts(source, ["cheap"], 10, seed=1) is None
