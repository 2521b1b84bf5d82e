"""An explanation's page says where its reference rows came from: a window of logged
inferences, or the file; nothing when the provenance does not say."""

from __future__ import annotations

from datetime import UTC, datetime

from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import render_explanation
from explainers import Explanation
from explainers.explanation import ReferenceSource
from tests.helpers.browser import element_text
from tests.helpers.render_factories import shap


def page(explanation: Explanation) -> str:
    return render_explanation(
        explanation,
        "id",
        model_name="income",
        model_version=None,
        local_methods=["shap"],
        immutable=[],
        words=Vocabulary(),
    )


def with_source(source: ReferenceSource | None, rows: int) -> Explanation:
    explanation = shap()
    explanation.provenance.reference_source = source
    explanation.provenance.reference_rows = rows
    return explanation


def test_the_page_names_the_window_or_the_file() -> None:
    window = ReferenceSource(
        kind="logged",
        since=datetime(2026, 11, 6, 14, 0, tzinfo=UTC),
        until=datetime(2026, 12, 6, 14, 0, tzinfo=UTC),
        logged=812,
    )
    text = element_text(page(with_source(window, 800)), "reference-source")
    assert text == "800 inferences logged from 2026-11-06 14:00 to 2026-12-06 14:00 UTC"
    file = ReferenceSource(kind="file", file="reference.csv")
    assert element_text(page(with_source(file, 3000)), "reference-source") == (
        "3,000 rows of reference.csv"  # thousands separated
    )
    assert 'id="reference-source"' not in page(with_source(None, 3000))
