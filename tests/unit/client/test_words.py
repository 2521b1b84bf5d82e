"""The client speaks the service's words without being told them (``GET /vocabulary``),
and inlines plotly.js once per kernel, not once per output."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from explainer_service.client import (
    AsyncExplainerClient,
    ExplainerClient,
    Explanation,
    Vocabulary,
    _html,
)
from tests.helpers.render_factories import INSTANCE, shap
from tests.unit.client.test_client import BASE, answer

SERVICE_WORDS = {
    "subject": "applicant",
    "subjects": "applicants",
    "classes": {"<=50K": "refused", ">50K": "approved"},
    "features": {"hours-per-week": "hours worked per week", "gender": "gender"},
    "categories": {"marital-status": {"Never-married": "never married"}},
}


def service(seen: list[str], vocabulary: httpx.Response) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/vocabulary":
            return vocabulary
        return httpx.Response(200, json=answer(shap()))

    return httpx.MockTransport(handler)


def test_the_client_reads_the_service_s_words_once() -> None:
    seen: list[str] = []
    transport = service(seen, httpx.Response(200, json=SERVICE_WORDS))
    with ExplainerClient(BASE, transport=transport) as client:
        first = client.explain(INSTANCE, "shap")
        client.explain(INSTANCE, "shap")
    assert seen == ["/vocabulary", "/explain", "/explain"]
    assert client.words == Vocabulary.of_json(SERVICE_WORDS)
    assert "approved" in first.summary and "applicant" in first.summary
    assert "never married" in first._repr_html_()


def test_the_async_client_too() -> None:
    seen: list[str] = []
    transport = service(seen, httpx.Response(200, json=SERVICE_WORDS))

    async def run() -> Explanation:
        async with AsyncExplainerClient(BASE, transport=transport) as client:
            return await client.explain(INSTANCE, "shap")

    assert "approved" in asyncio.run(run()).summary
    assert seen == ["/vocabulary", "/explain"]


def test_words_given_win_and_an_older_service_is_no_error() -> None:
    seen: list[str] = []
    given = Vocabulary(classes={">50K": "granted"})
    transport = service(seen, httpx.Response(200, json=SERVICE_WORDS))
    with ExplainerClient(BASE, transport=transport, words=given) as client:
        assert "granted" in client.explain(INSTANCE, "shap").summary
    assert seen == ["/explain"]
    seen.clear()
    older = service(seen, httpx.Response(404, json={"error": {"code": "not_found"}}))
    with ExplainerClient(BASE, transport=older) as client:
        assert ">50K" in client.explain(INSTANCE, "shap").summary
    assert seen == ["/vocabulary", "/explain"]


PLOTLY_BUNDLE = re.compile(r"plotly\.js v\d")


def test_plotly_js_is_inlined_once_per_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_html.SENT, "plotly.js", False)  # a fresh kernel
    outputs = [Explanation.from_answer(answer(shap()), BASE)._repr_html_() for _ in range(3)]
    assert [bool(PLOTLY_BUNDLE.search(html)) for html in outputs] == [True, False, False]
    assert all("Plotly.newPlot" in html for html in outputs)
    assert all(len(html) < 100_000 for html in outputs[1:])
