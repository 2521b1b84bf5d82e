"""A real service with bearer tokens and signed links (from the environment), and the real
model: a drill-down link from ``/links`` opens its page without a token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.income import paths
from tests.helpers.support import explainer_service, free_port, open_page, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

TOKENS = ["first-token-0123456789", "second-token-0123456789"]
SECRET = "the-link-secret-0123456789"


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("auth")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = {
        "model": {
            "name": "income",
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "service": {"store": str(directory / "store.sqlite"), "workers": 1},
        "explainers": {"shap": {"nsamples": 200}},
    }
    env = {
        "EXPLAINER_AUTH__TOKENS": ",".join(TOKENS),
        "EXPLAINER_AUTH__LINK_SECRET": SECRET,
        "EXPLAINER_AUTH__PUBLIC_BASE_URL": base,
    }
    process, base = explainer_service(
        config, directory, output_dir / "service-security.log", port=port, env=env
    )
    try:
        wait_until_ready(base)  # /health/* stays open
        yield base
    finally:
        process.stop()


def test_a_signed_drilldown_link_opens_its_page_without_a_token(service: str) -> None:
    logged = (paths.PAYLOADS / "v2.json").read_text()
    refused = HTTP.get(service + "/links", params={"payload": logged})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    links = HTTP.get(
        service + "/links",
        params={"payload": logged},
        headers={"Authorization": f"Bearer {TOKENS[1]}"},
    ).json()
    assert set(links) == {"shap"} and links["shap"].startswith(service + "/explain?")
    page = open_page(links["shap"])  # as a reviewer's browser: no token
    assert page.status_code == 200, page.text
    assert "SHAP value" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    # the page's own links are signed too
    json_link = re.search(r'href="([^"]+/explanations/[A-Za-z0-9_-]+\?[^"]+)"', page.text)
    assert json_link is not None, page.text
    answer = HTTP.get(json_link.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200 and answer.json()["method"] == "shap"
    tampered = HTTP.get(links["shap"].replace("method=shap", "method=anchors"))
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "forbidden"
    assert HTTP.get(service + "/explanations").status_code == 401
