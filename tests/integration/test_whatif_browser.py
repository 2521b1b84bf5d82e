"""The what-if editor in headless Chromium, driven over CDP with every host but 127.0.0.1
unresolvable: change hours worked, see the live model's answer (one call, counted at the
model server), press "Explain this", land on the new explanation that links back; a
counterfactual's "apply" fills the editor. Once with access control off, once on (the page
opened by a signed link, its calls carrying the page's grant, no token)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from examples.income import paths
from explainer_service.presentation.views import prediction_of
from explainer_service.presentation.vocabulary import Vocabulary
from explainers.explanation import Prediction
from explainers.wire import native
from tests.helpers.cdp import Page, chromium
from tests.helpers.support import explainer_service, free_port, open_page, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

EXAMPLE = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
WORDS = Vocabulary(EXAMPLE["model"]["class_labels"], EXAMPLE["features"]["labels"], "applicant")
TOKEN = "whatif-token-0123456789"
SECRET = "whatif-link-secret-0123456789"


@pytest.fixture(scope="module", params=["open", "auth"])
def service(request, income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[dict]:
    """The income service (one worker); ``auth``: tokens and signed links."""
    directory = tmp_path_factory.mktemp(f"whatif-{request.param}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = {
        "model": {
            "name": "income",
            "url": f"{income_server}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "class_labels": EXAMPLE["model"]["class_labels"],
            "subject": "applicant",
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {
            "immutable": EXAMPLE["features"]["immutable"],
            "labels": EXAMPLE["features"]["labels"],
        },
        "service": {
            "store": str(directory / "store.sqlite"),
            "workers": 1,
            "ready_recheck_s": 3600,
        },
        "explainers": {"shap": {"nsamples": 200}, "counterfactual": {"total": 2}},
    }
    env = {}
    headers = {}
    if request.param == "auth":
        env = {"EXPLAINER_AUTH__TOKENS": TOKEN, "EXPLAINER_AUTH__LINK_SECRET": SECRET}
        headers = {"Authorization": f"Bearer {TOKEN}"}
    log = output_dir / f"service-whatif-{request.param}.log"
    process, base = explainer_service(config, directory, log, port=port, env=env)
    try:
        wait_until_ready(base)
        yield {
            "base": base,
            "headers": headers,
            "auth": request.param == "auth",
            "model": income_server,
        }
    finally:
        process.stop()


@pytest.fixture(scope="module")
def page(output_dir: Path) -> Iterator[Page]:
    with chromium(output_dir / "chromium-whatif.log") as tab:
        yield tab


def applicant() -> dict:
    record = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[3].to_dict()
    return {k: native(v) for k, v in record.items()}


def explain(service: dict, method: str, record: dict) -> dict:
    response = HTTP.post(
        f"{service['base']}/explain?method={method}",
        json={"instances": [record]},
        headers=service["headers"],
        timeout=600,
    )
    assert response.status_code == 200, response.text
    return response.json()


def url(service: dict, link: str) -> str:
    return link if link.startswith("http") else service["base"] + link


def model_requests(service: dict) -> int:
    return int(HTTP.get(f"{service['model']}/stats").json()["requests"])


def model_says(service: dict, record: dict) -> str:
    """What the model server answers for ``record``, in the page's words."""
    body = {
        "inputs": [
            {
                "name": name,
                "shape": [1],
                "datatype": "BYTES" if isinstance(v, str) else "FP64",
                "data": [v],
            }
            for name, v in record.items()
        ]
    }
    answer = HTTP.post(f"{service['model']}/v2/models/income/infer", json=body).json()
    scores = answer["outputs"][0]["data"]
    probabilities = dict(zip(paths.CLASS_NAMES, scores, strict=True))
    label = max(probabilities, key=probabilities.__getitem__)
    return prediction_of(Prediction(label=label, probabilities=probabilities), WORDS)


def as_typed(v: object) -> str:
    """A value as an input holds it (JavaScript writes 40.0 as "40")."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def set_field(page: Page, feature: str, value: object) -> None:
    page.evaluate(
        f"""(() => {{
        const field = document.querySelector('[data-feature="{feature}"]');
        field.value = {json.dumps(str(value))};
        field.dispatchEvent(new Event('input', {{bubbles: true}}));
        }})()"""
    )


def answered(page: Page) -> str:
    page.wait_for("document.getElementById('whatif-form').dataset.state !== 'asking'")
    state = page.wait_for(
        "['answered', 'refused'].includes(document.getElementById('whatif-form').dataset.state)"
        " && document.getElementById('whatif-form').dataset.state"
    )
    text = page.evaluate("document.getElementById('whatif-status').textContent")
    assert state == "answered", text
    return str(page.evaluate("document.getElementById('whatif-prediction').textContent"))


def test_change_hours_see_the_model_then_explain(
    service: dict, page: Page, output_dir: Path
) -> None:
    record = applicant()
    first = explain(service, "shap", record)
    if service["auth"]:  # the page is reached by its signed link alone
        assert "sig=" in first["links"]["html"]
        assert HTTP.get(service["base"] + "/explanations").status_code == 401
    page.goto(url(service, first["links"]["html"]))
    page.wait_for("document.getElementById('whatif-form') !== null")
    hours = 60 if record["hours-per-week"] != 60 else 45
    before = model_requests(service)
    set_field(page, "hours-per-week", hours)
    shown = answered(page)
    assert model_requests(service) == before + 1  # one call, made for the editor
    edited = {**record, "hours-per-week": hours}
    assert shown == model_says(service, edited)
    assert page.evaluate("document.getElementById('whatif-form').dataset.changed") == "1"
    loaded = page.evaluate("performance.getEntriesByType('resource').map(r => r.name)")
    assert loaded and all(r.startswith(service["base"] + "/") for r in loaded), loaded
    page.screenshot(
        output_dir / "screenshots" / f"whatif-{'auth' if service['auth'] else 'open'}.png"
    )

    page.evaluate("document.getElementById('whatif-explain').click()")
    page.wait_for(
        "location.search.includes('whatif_of=') && document.getElementById('back-link') !== null"
    )
    assert f"/explanations/{first['id']}" in page.evaluate(
        "document.getElementById('back-link').href"
    )
    new_id = page.evaluate("location.pathname.split('/').pop()")
    assert new_id != first["id"]
    stored = HTTP.get(f"{service['base']}/explanations/{new_id}", headers=service["headers"]).json()
    assert stored["instance"]["hours-per-week"] == hours
    assert stored["method"] == "shap"
    # the new page's editor starts from the edited values
    assert page.evaluate(
        "document.querySelector('[data-feature=\"hours-per-week\"]').value"
    ) == str(hours)


def test_apply_a_counterfactual(service: dict, page: Page) -> None:
    explanation = explain(service, "counterfactual", applicant())
    counterfactuals = explanation["result"]["counterfactuals"]
    assert counterfactuals, explanation["result"]
    page.goto(url(service, explanation["links"]["html"]))
    page.wait_for("document.querySelectorAll('button.apply').length > 0")
    page.evaluate("document.querySelector('button.apply').click()")
    shown = answered(page)
    chosen = counterfactuals[0]
    values = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-feature]')]"
        ".map(f => [f.dataset.feature, f.value]))"
    )
    assert values == {k: as_typed(v) for k, v in chosen["values"].items()}
    assert shown == model_says(service, chosen["values"])
    figure = page.evaluate("document.getElementById('figure').textContent")
    assert "decision line" in figure  # drawn by plotly on the chances chart


def test_a_value_out_of_range_is_refused_on_the_page(service: dict, page: Page) -> None:
    explanation = explain(service, "shap", applicant())
    page.goto(url(service, explanation["links"]["html"]))
    page.wait_for("document.getElementById('whatif-form') !== null")
    before = model_requests(service)
    set_field(page, "hours-per-week", 1000)
    state = page.wait_for(
        "['answered', 'refused'].includes(document.getElementById('whatif-form').dataset.state)"
        " && document.getElementById('whatif-form').dataset.state"
    )
    assert state == "refused"
    assert "hours-per-week" in page.evaluate("document.getElementById('whatif-status').textContent")
    assert model_requests(service) == before


FITS = """(() => {
  const width = document.documentElement.clientWidth;
  const table = document.getElementById('instance');
  const rows = [...table.querySelectorAll('tr')].slice(1);
  const fields = document.querySelectorAll('[data-feature]');
  const cells = [...table.querySelectorAll('th, td'), ...fields];
  const outside = cells
    .filter(cell => cell.getBoundingClientRect().right > width + 1)
    .map(cell => cell.textContent || cell.dataset.feature);
  return {
    features: rows.map(row => row.querySelector('th').textContent),
    outside: outside,
    scrolls: table.scrollWidth > table.clientWidth + 1,
    page: document.documentElement.scrollWidth > width + 1,
    technicalOpen: document.getElementById('technical').open,
    fidelityShown: document.getElementById('fidelity').checkVisibility(),
  };
})()"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_feature_is_readable_at_this_width(
    service: dict, page: Page, width: int, output_dir: Path
) -> None:
    """The applicant's table and the editor fit the window, technical details collapsed;
    the screenshots are for people to look at."""
    explanation = explain(service, "shap", applicant())
    try:
        page.viewport(width)
        page.goto(url(service, explanation["links"]["html"]))
        page.wait_for("document.querySelector('.main-svg') !== null")
        seen = page.evaluate(FITS)
        name = f"page-{width}px-{'auth' if service['auth'] else 'open'}.png"
        page.screenshot(output_dir / "screenshots" / name)
    finally:
        page.send("Emulation.clearDeviceMetricsOverride")
    assert seen["features"] == [WORDS.feature(f) for f in paths.FEATURES]
    assert seen["outside"] == [] and not seen["scrolls"] and not seen["page"], seen
    assert not seen["technicalOpen"] and not seen["fidelityShown"]


def test_a_payload_of_two_rows_says_which_row_and_links_to_the_other(service: dict) -> None:
    first, second = applicant(), {**applicant(), "hours-per-week": 20}
    page = HTTP.post(
        f"{service['base']}/explain?method=shap&format=html",
        json={"instances": [first, second]},
        headers=service["headers"],
        timeout=600,
    )
    assert page.status_code == 200, page.text
    assert "Row 1 of 2 of the payload" in page.text
    links = re.findall(r'class="row-link" href="([^"]+)"', page.text)
    assert len(links) == 1
    other = open_page(url(service, links[0].replace("&amp;", "&")))  # signed: no token
    assert other.status_code == 200, other.text
    assert "Row 2 of 2 of the payload" in other.text
    assert re.search(r"hours worked per week</th><td>20</td>", other.text)
