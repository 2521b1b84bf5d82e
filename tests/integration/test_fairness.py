"""Protected attributes against real processes: ``tests.helpers.servers.gendered_model``
serves a model that uses ``gender`` directly by a rule the explainer does not know (positive
iff a man with 13 or more years of education, or capital gains over 5,000) and one that
ignores every protected attribute. One explainer service (one worker) explains the first,
keeps its logged traffic, and counts in ``/metrics``; the second is explained by a runtime
in this process, as a worker would, against the same server.

- the fairness block names gender, and the flip test flips, for exactly the applicants the
  rule decides by gender; ``/metrics`` counts them, and ethnicity never;
- the model that ignores the protected attributes: nothing flagged, no flip;
- ``GET /fairness`` over the logged traffic (CloudEvents posted to the sink) gives the
  positive rates, parity figures and flip counts counted here by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.income import paths
from explainer_service.client import ExplainerClient
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import FeatureSource, load_settings
from explainers import Explanation
from explainers.wire import native
from tests.helpers.logger_events import kserve_event, message, v2_request, v2_response
from tests.helpers.servers.gendered_model import BLIND, GENDERED, gender_decides, gendered, path
from tests.helpers.support import (
    explainer_service,
    free_port,
    per_worker,
    python_server,
    wait_until_fitted,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

PROTECTED = ["gender", "ethnicity"]
#: Holdout applicants explained at once (service.max_instances: 10), some of whom the rule
#: decides by gender (2, 6 and 9 are men, 14 a woman: checked below).
BATCH = [*range(9), 14]
#: Holdout applicants explained by the model that ignores the protected attributes.
APPLICANTS = [2, 14, 0, 1]
LOGGED = 40
EXPLAINED_BY_ID = [2, 14, 0, 3, 23]
EXPLAINERS = {
    "anchors": {"threshold": 0.95},
    "shap": {"nsamples": 200, "background_size": 50},
    "counterfactual": {"total": 2},
}


def holdout(count: int) -> list[dict[str, Any]]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[:count]
    return [{k: native(v) for k, v in r.items()} for r in frame.to_dict("records")]


def config(model_url: str, store: Path) -> dict[str, Any]:
    base = load_settings(paths.HERE / "explainer.yaml")
    return {
        "model": {
            "name": GENDERED,
            "url": model_url,
            "class_names": paths.CLASS_NAMES,
            "class_labels": {"<=50K": "refused", ">50K": "approved"},
            "subject": "applicant",
        },
        "data": {"reference": str(paths.REFERENCE), "target": paths.TARGET},
        "features": {
            "source": "reference",
            "immutable": base.features.immutable,
            "links": base.features.links,
            "missing": base.features.missing,
            "overrides": base.features.overrides,
            "protected": PROTECTED,
        },
        "explainers": EXPLAINERS,
        "service": {"store": str(store), "workers": 1, "ready_recheck_s": 3600},
    }


@pytest.fixture(scope="module")
def model_server(income_files: Path, output_dir: Path) -> Iterator[str]:
    port = free_port()
    log = output_dir / per_worker("gendered-model.log")
    server = python_server("tests.helpers.servers.gendered_model", port, log=log).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def service(model_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("fairness")
    settings = config(model_server + path(GENDERED), directory / "store.sqlite")
    log = output_dir / per_worker("fairness-service.log")
    process, base = explainer_service(settings, directory, log=log)
    try:
        wait_until_fitted(base)
        yield base
    finally:
        process.stop()


@pytest.fixture(scope="module")
def blind(model_server: str) -> Iterator[FittedRuntime]:
    """The model that ignores the protected attributes, explained as a worker would."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = model_server + path(BLIND)  # type: ignore[assignment]
    settings.model.name = BLIND
    settings.features.source = FeatureSource.reference
    settings.features.protected = PROTECTED
    settings.explainers = EXPLAINERS
    runtime = FittedRuntime(settings, announce=False)
    yield runtime
    runtime.close()


def explain(base: str, method: str, record: dict[str, Any], **params: Any) -> dict[str, Any]:
    answer = HTTP.post(
        f"{base}/explain",
        params={"method": method, "seed": 3, **params},
        json={"instances": [record]},
        timeout=600,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def flags(base: str) -> dict[tuple[str, str, str], float]:
    text = HTTP.get(f"{base}/metrics", timeout=60).raise_for_status().text
    return {
        (s.labels["method"], s.labels["attribute"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "explainer_fairness_flags"
        for s in family.samples
        if s.name.endswith("_total")
    }


def checks(base: str) -> dict[str, float]:
    text = HTTP.get(f"{base}/metrics", timeout=60).raise_for_status().text
    return {
        s.labels["method"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "explainer_fairness_checks"
        for s in family.samples
        if s.name.endswith("_total")
    }


def attribute(block: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in block["attributes"] if a["feature"] == name)


def test_the_block_names_gender_and_flips_exactly_where_the_rule_uses_it(service: str) -> None:
    applicants = holdout(max(BATCH) + 1)
    records = [applicants[i] for i in BATCH]
    decided = [gender_decides(record) for record in records]
    assert 2 < sum(decided) < len(BATCH) - 2  # men and a woman the rule decides by gender
    assert {r["gender"] for r, d in zip(records, decided, strict=True) if d} == {"Male", "Female"}
    answer = HTTP.post(
        f"{service}/explain",
        params={"method": "anchors", "seed": 3, "instance": "all"},
        json={"instances": records},
        timeout=600,
    )
    assert answer.status_code == 200, answer.text
    explained = answer.json()["explanations"]
    assert len(explained) == len(BATCH)
    for record, decides, explanation in zip(records, decided, explained, strict=True):
        block = explanation["fairness"]
        gender, ethnicity = attribute(block, "gender"), attribute(block, "ethnicity")
        other = "Female" if record["gender"] == "Male" else "Male"
        assert [(f["value"], f["flipped"]) for f in gender["flips"]] == [(other, decides)]
        assert not any(f["flipped"] for f in ethnicity["flips"])
        assert len(ethnicity["flips"]) == 4  # the other four ethnicities of the data
        assert block["flip_rows"] == 5
        assert block["flipped"] is decides
        assert ("flip" in gender["flags"]) is decides
        assert "flip" not in ethnicity["flags"]
        if decides:  # the rule holds only with gender: the anchor must name it
            assert gender["in_anchor"] is True
            assert "gender" in block["flagged"]
            changed = gendered([list({**record, "gender": other}.values())])[0]
            assert gender["flips"][0]["label"] == paths.CLASS_NAMES[int(changed[1])]
            assert gender["flips"][0]["change"] == -1.0
        else:
            assert gender["flips"][0]["change"] == 0.0
    counted = flags(service)
    assert counted.get(("anchors", "gender", "flip")) == sum(decided)
    assert counted.get(("anchors", "gender", "anchor"), 0) >= sum(decided)
    assert not any(attr == "ethnicity" and why == "flip" for _, attr, why in counted)
    assert checks(service)["anchors"] == len(BATCH)


def test_shap_and_counterfactuals_say_what_they_find_of_gender(service: str) -> None:
    record = holdout(3)[2]  # a man the rule approves for his gender
    shap = explain(service, "shap", record)
    gender = attribute(shap["fairness"], "gender")
    assert gender["shap_share"] >= 0.1 and "shap" in gender["flags"]
    shares = {c["feature"]: abs(c["shap"]) for c in shap["result"]["contributions"]}
    assert gender["shap_share"] == pytest.approx(shares["gender"] / sum(shares.values()))

    counterfactual = explain(service, "counterfactual", record)
    gender = attribute(counterfactual["fairness"], "gender")
    assert gender["immutable"] is True and gender["counterfactual_changes"] is False
    assert gender["flags"] == ["flip"]
    counted = flags(service)
    assert counted.get(("shap", "gender", "shap")) == 1
    assert counted.get(("counterfactual", "gender", "flip")) == 1
    assert ("counterfactual", "gender", "counterfactual") not in counted

    page = HTTP.get(f"{service}/explanations/{shap['id']}", params={"format": "html"}, timeout=60)
    assert page.status_code == 200
    assert 'id="fairness"' in page.text and "gender may have decided this" in page.text
    assert 'data-attribute="gender" class="flagged"' in page.text


def test_a_model_that_ignores_the_protected_attributes_flags_nothing(
    blind: FittedRuntime, model_server: str
) -> None:
    metrics = Metrics()
    applicants = holdout(max(APPLICANTS) + 1)
    explained: list[Explanation] = []
    for i in APPLICANTS:
        row = list(applicants[i].values())
        for method in ("anchors", "shap"):
            explained.append(blind.run(method, row, {"seed": 3}))
    explained.append(blind.run("counterfactual", list(applicants[2].values()), {"seed": 3}))
    for explanation in explained:
        block = explanation.fairness
        assert block is not None
        assert block.flagged == [] and block.flags == [] and not block.flipped
        for protected in block.attributes:
            assert not any(f.flipped for f in protected.flips)
            assert all(f.change == 0.0 for f in protected.flips)
            assert protected.in_anchor in (None, False)
            assert protected.shap_share is None or protected.shap_share < 0.1
        metrics.finished(explanation.method, explanation)
    text = metrics.exposition()[0].decode()
    assert "explainer_fairness_flags_total{" not in text
    assert 'explainer_fairness_checks_total{method="anchors"} 4.0' in text
    served = HTTP.get(f"{model_server}/stats", timeout=60).json()[BLIND]
    assert served["requests"] >= len(explained)  # the blind model answered them


def post_logged(service: str, rows: list[dict[str, Any]]) -> None:
    """One request and one response event of ``rows``, as KServe's agent would send."""
    scores = gendered([list(r.values()) for r in rows]).tolist()
    for side, data in (("request", v2_request([list(r.values()) for r in rows])),
                       ("response", v2_response(scores))):  # fmt: skip
        sent = message(kserve_event(side, data, "traffic", model=GENDERED))
        answer = HTTP.post(
            f"{service}/inferences", content=sent.body, headers=sent.headers, timeout=60
        )
        assert answer.status_code == 200, answer.text


def test_parity_over_logged_traffic_equals_the_count_by_hand(service: str) -> None:
    rows = holdout(LOGGED)
    post_logged(service, rows)
    for i in EXPLAINED_BY_ID:
        answer = HTTP.post(
            f"{service}/inferences/traffic%2F{i}/explain",
            params={"method": "anchors", "seed": 3},
            timeout=600,
        )
        assert answer.status_code == 200, answer.text
    report = HTTP.get(
        f"{service}/fairness", params={"attribute": "gender", "window": "7d"}, timeout=60
    )
    assert report.status_code == 200, report.text
    got = report.json()

    approved: dict[str, list[bool]] = {}
    for row in rows:
        approved.setdefault(row["gender"], []).append(bool(gendered([list(row.values())])[0][1]))
    rates = {group: sum(v) / len(v) for group, v in approved.items()}
    high, low = max(rates, key=rates.__getitem__), min(rates, key=rates.__getitem__)
    assert got["logged"] == got["read"] == LOGGED
    assert got["positive_class"] == ">50K"
    assert {g["value"]: (g["decisions"], g["positive"]) for g in got["groups"]} == {
        group: (len(v), sum(v)) for group, v in approved.items()
    }
    assert got["reference_group"] == high
    assert got["statistical_parity_difference"] == pytest.approx(rates[low] - rates[high])
    assert got["disparate_impact"] == pytest.approx(rates[low] / rates[high])
    assert got["four_fifths"] is (rates[low] / rates[high] >= 0.8)
    flipping = [i for i in EXPLAINED_BY_ID if gender_decides(rows[i])]
    assert 0 < len(flipping) < len(EXPLAINED_BY_ID)
    assert got["flips"]["tested"] == len(EXPLAINED_BY_ID)
    assert got["flips"]["flipped"] == len(flipping)

    page = HTTP.get(
        f"{service}/fairness",
        params={"attribute": "gender", "window": "7d"},
        headers={"Accept": "text/html"},
        timeout=60,
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"{len(flipping)} of {len(EXPLAINED_BY_ID)} explained applicants" in page.text
    assert f'data-group="{low}" class="flagged"' in page.text

    with ExplainerClient(service) as client:  # the notebook's view: the same report
        fairness = client.fairness("gender", window="7d")
    assert fairness.report["groups"] == got["groups"] and fairness["flips"] == got["flips"]
    assert fairness.to_frame().loc[low, "rate"] == pytest.approx(rates[low])
    assert f"{len(flipping)} of {len(EXPLAINED_BY_ID)} explained applicants" in (
        fairness._repr_html_()
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"attribute": "occupation"}, "attribute"),
        ({"attribute": "gender", "window": "a week"}, "window"),
        ({"attribute": "gender", "window": "9999d"}, "window"),
        ({}, "attribute"),
    ],
)
def test_a_bad_query_is_refused_naming_the_field(
    service: str, query: dict[str, str], field: str
) -> None:
    answer = HTTP.get(f"{service}/fairness", params=query, timeout=60)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert field in (error.get("detail") or {}).get("field", "") or field in error["message"]
