"""Explanation pages in headless Chromium, offline: plots drawn, text there, nothing injected."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import yaml

from examples.income import paths
from explainer_service.presentation.formats import value
from explainers.wire import native
from tests.helpers.browser import dump_dom, element_text, screenshot, visible_text
from tests.helpers.inprocess import fake_app, served
from tests.helpers.support import ROOT, explainer_service, open_page, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

XSS = '<script>document.title="pwned"</script>'
ESCAPED = "&lt;script&gt;document.title="
#: the income example's words for its classes and features (examples/income/explainer.yaml)
EXAMPLE = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
CLASS_WORDS: dict[str, str] = EXAMPLE["model"]["class_labels"]
FEATURE_WORDS: dict[str, str] = EXAMPLE["features"]["labels"]


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    """A service whose reference data has a hostile category (the model ignores it)."""
    directory = tmp_path_factory.mktemp("browser")
    reference = pd.read_csv(paths.REFERENCE)
    reference.loc[:20, "workclass"] = XSS
    reference.to_csv(directory / "reference.csv", index=False)
    config = {
        "model": {
            "name": "income",
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "class_labels": CLASS_WORDS,
        },
        "data": {"reference": str(directory / "reference.csv"), "target": "loan"},
        "features": {
            "immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"],
            "labels": FEATURE_WORDS,
        },
        "service": {"store": ":memory:", "ready_recheck_s": 3600},
        "explainers": {
            "anchors": {},
            "shap": {"nsamples": 300},
            "counterfactual": {},
            "importance": {"rows": 300, "iterations": 2},
        },
    }
    process, base = explainer_service(config, directory, output_dir / "service-browser.log")
    wait_until_ready(base)
    yield base
    process.stop()


def hostile_applicant() -> dict:
    record = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[3].to_dict()
    record = {k: native(v) for k, v in record.items()}
    return {**record, "workclass": XSS}


def explain(base: str, method: str) -> dict:
    body = None if method == "importance" else {"instances": [hostile_applicant()]}
    response = HTTP.post(f"{base}/explain?method={method}", json=body, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def key_text(method: str, explanation: dict) -> str:
    if method == "anchors":
        return "The model predicts"
    if method == "shap":
        top = max(explanation["result"]["contributions"], key=lambda c: abs(c["shap"]))
        return f"{FEATURE_WORDS[top['feature']]} = {value(top['value'])}"
    if method == "counterfactual":
        return 'class="changed"'
    return "Drop of accuracy when a feature is shuffled"


def expected_words(method: str, explanation: dict) -> list[str]:
    """What the page's sentence must say, in the example's words."""
    result = explanation["result"]
    if method == "anchors":
        said = [CLASS_WORDS[explanation["prediction"]["label"]]]
        return said + [FEATURE_WORDS[c["feature"]] for c in result["conditions"]]
    if method == "shap":
        top = max(result["contributions"], key=lambda c: c["shap"])
        return [CLASS_WORDS[result["output"]], FEATURE_WORDS[top["feature"]]]
    if method == "counterfactual":
        valid = [c for c in result["counterfactuals"] if c["valid"]]
        fewest = min(valid, key=lambda c: len(c["changes"]))  # the one the sentence tells
        return [CLASS_WORDS[result["desired"]]] + [
            FEATURE_WORDS[change["feature"]] for change in fewest["changes"]
        ]
    return [FEATURE_WORDS[result["features"][0]["feature"]]]


def foreign_urls(html: str, base: str) -> list[str]:
    return [u for u in re.findall(r"https?://[^\s\"'<>)]+", html) if not u.startswith(base)]


@pytest.mark.parametrize("method", ["anchors", "shap", "counterfactual", "importance"])
def test_page_renders_offline(service: str, method: str, output_dir: Path) -> None:
    explanation = explain(service, method)
    url = service + explanation["links"]["html"]
    html = HTTP.get(url).text
    assert foreign_urls(html, service) == []
    assert '<script src="/static/plotly.min.js">' in html
    dom = dump_dom(url)  # with every host but 127.0.0.1 unresolvable
    assert "main-svg" in dom, dom[:2000]
    assert key_text(method, explanation) in dom
    if method != "importance":
        assert ESCAPED in html and XSS not in html
    assert "<title>pwned</title>" not in dom
    shot = screenshot(url, output_dir / "screenshots" / f"{method}.png")
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("method", ["anchors", "shap", "counterfactual", "importance"])
def test_page_speaks_the_user_s_words(service: str, method: str) -> None:
    """The sentence at the top says it in the example's words (approved/refused, "hours
    worked per week"), never the model's (">50K", "hours-per-week"); no number on the drawn
    page, figure included, reads "-0.000"."""
    explanation = explain(service, method)
    dom = dump_dom(service + explanation["links"]["html"])
    assert "main-svg" in dom, dom[:2000]
    sentence = element_text(dom, "sentence")
    for said in expected_words(method, explanation):
        assert said in sentence, (said, sentence)
    raw_names = [*CLASS_WORDS, *(name for name, words in FEATURE_WORDS.items() if name != words)]
    for raw in raw_names:
        assert raw not in sentence, (raw, sentence)
    text = visible_text(dom)
    assert "-0.000" not in text and "\u22120.000" not in text


def test_other_pages_escape_the_hostile_value(service: str) -> None:
    explain(service, "shap")
    landing = HTTP.get(service + "/").text
    assert ESCAPED in landing and XSS not in landing
    assert "<title>pwned</title>" not in dump_dom(service + "/")
    error = HTTP.get(service + "/explain", params={"method": "shap", "payload": json.dumps(
        {"instances": [{**hostile_applicant(), "education": XSS}]})}).text  # fmt: skip
    assert ESCAPED in error and XSS not in error


def test_the_kibana_template_opens_the_page(service: str, output_dir: Path) -> None:
    text = (ROOT / "docs" / "kibana.md").read_text()
    template = next(line for line in text.splitlines() if "payload={{value}}" in line).strip()
    logged = (paths.PAYLOADS / "v2.json").read_text()  # what the request logger stored
    link = template.replace("http://EXPLAINER", service).replace(
        "{{value}}",
        quote(logged, safe=""),  # Kibana puts the URI-escaped value here
    )
    dom = dump_dom(link)
    assert "The model predicts" in dom and "main-svg" in dom
    screenshot(link, output_dir / "screenshots" / "kibana-link.png")


def test_links_helper(service: str) -> None:
    logged = (paths.PAYLOADS / "v2.json").read_text()
    links = HTTP.get(service + "/links", params={"payload": logged}).json()
    assert set(links) == {"anchors", "shap", "counterfactual"}
    assert links["shap"].startswith("/explain?")  # no auth.public_base_url: relative
    page = open_page(service + links["shap"])
    assert page.status_code == 200 and "SHAP value" in page.text
    bad = HTTP.get(service + "/links", params={"payload": '{"inputs": []}'})
    assert bad.status_code == 422 and "'inputs' is empty" in bad.json()["error"]["message"]


@pytest.fixture(scope="module")
def docs_service(tmp_path_factory) -> Iterator[str]:
    """The application with a stand-in worker: /docs needs no model."""
    with served(fake_app(tmp_path_factory.mktemp("docs"))) as base:
        yield base


def test_swagger_ui_renders_offline(docs_service: str, output_dir: Path) -> None:
    """Swagger UI draws the operations from /openapi.json with every other host unreachable:
    its scripts and styles come from the service, under the /docs page's policy."""
    dom = dump_dom(docs_service + "/docs")
    paths_drawn = re.findall(r'class="opblock-summary-path"[^>]*data-path="([^"]+)"', dom)
    assert "/explain" in paths_drawn and "/explanations/{id}" in paths_drawn, dom[:3000]
    assert "explainer-service" in visible_text(dom)
    shot = screenshot(docs_service + "/docs", output_dir / "screenshots" / "docs.png")
    assert shot.stat().st_size > 10_000


def test_redoc_renders_offline(docs_service: str) -> None:
    dom = dump_dom(docs_service + "/redoc")
    text = visible_text(dom)
    assert "/explain" in text and "explainer-service" in text, text[:3000]
