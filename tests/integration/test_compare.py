"""Two versions of a model side by side (``models.candidate``, ``compare=candidate``).

Two real model servers differ in one known way: both are
``tests.helpers.servers.rule_model`` (approve iff education-num >= 13 or capital-gain >
5,000), and the candidate is started with ``--zero capital-gain``, so it ignores capital
gains (approve iff education-num >= 13). One explainer service (one worker) is configured
with the first as ``model`` and the second as ``models.candidate``.

- An applicant approved for capital gains alone: the decision changes, the model's anchor
  uses capital gains and does not hold for the candidate, and capital gains lead the SHAP
  differences. An applicant approved for schooling: the model's anchor holds for the
  candidate.
- Counterfactuals are said valid or not for each version as the two rules say.
- A logged window re-scored by the candidate: the share of changed decisions equals the
  count by hand of the rows approved for capital gains alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest

from examples.income import paths
from explainers.wire import native
from tests.helpers.ground_truth import threshold_classifier
from tests.helpers.logger_events import kserve_event, message, v2_request
from tests.helpers.servers.rule_model import PATH as RULE_PATH
from tests.helpers.support import (
    ServerProcess,
    explainer_service,
    free_port,
    per_worker,
    python_server,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

APPROVED, REFUSED = ">50K", "<=50K"
SEED = {"seed": "7"}
TIMEOUT = 600


def _server(output_dir: Path, name: str, *extra: str) -> tuple[ServerProcess, str]:
    port = free_port()
    log = output_dir / per_worker(f"compare-{name}.log")
    module = "tests.helpers.servers.rule_model"
    server = python_server(module, port, *extra, log=log).wait_ready()
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def models(income_files: Path, output_dir: Path) -> Iterator[tuple[str, str]]:
    """(the model's base URL, the candidate's), two real processes."""
    model, model_base = _server(output_dir, "model")
    try:
        candidate, candidate_base = _server(output_dir, "candidate", "--zero", "capital-gain")
        try:
            yield model_base, candidate_base
        finally:
            candidate.stop()
    finally:
        model.stop()


def config(model_base: str, candidate_base: str, store: Path) -> dict[str, Any]:
    return {
        "model": {
            "name": "income",
            "url": model_base + RULE_PATH,
            "class_names": paths.CLASS_NAMES,
            "class_labels": {REFUSED: "refused", APPROVED: "approved"},
            "subject": "applicant",
            "metadata_wait_s": 0,
        },
        "models": {
            "candidate": {"url": candidate_base + RULE_PATH, "version": "no-capital-gains"},
            "rule_rows": 400,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {
            "source": "reference",
            "immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"],
            "links": [["education", "education-num"]],
            "overrides": {"capital-gain": {"min": 0, "max": 10000}},
        },
        "service": {"store": str(store), "workers": 1, "ready_recheck_s": 3600},
        "explainers": {
            "anchors": {"threshold": 0.95},
            "shap": {"nsamples": 200, "background_size": 50},
            "counterfactual": {"total": 3},
        },
    }


@pytest.fixture(scope="module")
def service(models: tuple[str, str], tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("compare")
    settings = config(*models, directory / "explanations.sqlite")
    log = output_dir / per_worker("compare-service.log")
    process, base = explainer_service(settings, directory, log=log)
    try:
        wait_until_ready(base)
        yield base
    finally:
        process.stop()


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(paths.REFERENCE)[paths.FEATURES]


def applicant(reference: pd.DataFrame, where: pd.Series, **values: Any) -> dict[str, Any]:
    """The first reference row where ``where`` holds, with ``values`` replaced."""
    row = reference[where].iloc[0].to_dict()
    return {**{k: native(v) for k, v in row.items()}, **values}


def payload(record: dict[str, Any]) -> dict[str, Any]:
    return v2_request([[record[name] for name in paths.FEATURES]])


def compare(base: str, method: str, record: dict[str, Any]) -> dict[str, Any]:
    answer = HTTP.post(
        f"{base}/explain",
        params={"method": method, "compare": "candidate", **SEED},
        json=payload(record),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def approved_by_model(values: dict[str, Any]) -> bool:
    """The model's rule, by hand."""
    row = [[values[name] for name in paths.FEATURES]]
    return bool(threshold_classifier(row)[0, 1] == 1)


def approved_by_candidate(values: dict[str, Any]) -> bool:
    """The candidate's rule, by hand: capital gains ignored."""
    return approved_by_model({**values, "capital-gain": 0})


@pytest.fixture(scope="module")
def for_gains(reference: pd.DataFrame) -> dict[str, Any]:
    """Approved by the model for capital gains alone."""
    plain = (reference["education-num"] < 13) & (reference["capital-gain"] == 0)
    return applicant(reference, plain, **{"capital-gain": 9000})


def test_an_anchor_on_capital_gains_does_not_hold_for_the_candidate(service, for_gains) -> None:
    before = changed_metric(service, "explanation")
    comparison = compare(service, "anchors", for_gains)
    assert changed_metric(service, "explanation") == before + 1
    assert comparison["model"]["prediction"]["label"] == APPROVED
    assert comparison["candidate"]["prediction"]["label"] == REFUSED
    assert comparison["decision_changed"] is True
    assert comparison["candidate"]["model_version"] == "no-capital-gains"
    assert comparison["seed"] == 7
    rules = {rule["of"]: rule for rule in comparison["anchors"]}
    ours = rules["model"]
    assert "capital-gain" in [c["feature"] for c in ours["conditions"]]
    assert ours["decision"] == APPROVED and ours["precision"] >= 0.95
    # the candidate approves only the sampled applicants with 13+ years of schooling
    assert ours["samples"] == 400
    assert ours["precision_on_other"] < 0.5 and ours["holds_on_other"] is False
    assert rules["candidate"]["decision"] == REFUSED
    # both stored explanations are there, under their own ids
    ids = {comparison[v]["explanation_id"] for v in ("model", "candidate")}
    assert len(ids) == 2
    for version in ("model", "candidate"):
        stored = HTTP.get(f"{service}/explanations/{comparison[version]['explanation_id']}")
        assert stored.status_code == 200
        assert stored.json()["prediction"] == comparison[version]["prediction"]
    # the candidate's own page names its version
    page = HTTP.get(service + comparison["candidate"]["links"]["html"])
    assert "(version no-capital-gains)" in page.text
    model_page = HTTP.get(service + comparison["model"]["links"]["html"])
    assert model_page.status_code == 200 and "no-capital-gains" not in model_page.text


def test_an_anchor_on_schooling_holds_for_the_candidate(service, reference) -> None:
    schooled = applicant(
        reference, (reference["education-num"] >= 14) & (reference["capital-gain"] == 0)
    )
    comparison = compare(service, "anchors", schooled)
    assert comparison["decision_changed"] is False
    ours = next(rule for rule in comparison["anchors"] if rule["of"] == "model")
    assert "capital-gain" not in [c["feature"] for c in ours["conditions"]]
    assert ours["precision_on_other"] >= 0.95 and ours["holds_on_other"] is True


def test_shap_differences_rank_capital_gains_first(service, for_gains) -> None:
    comparison = compare(service, "shap", for_gains)
    assert comparison["shap_output"] == APPROVED  # both explain the same class
    first = comparison["shap"][0]
    assert first["feature"] == "capital-gain"
    assert first["model"] > 0.3 and abs(first["candidate"]) < 0.02
    differences = [abs(d["difference"]) for d in comparison["shap"]]
    assert differences == sorted(differences, reverse=True)
    candidate = HTTP.get(f"{service}/explanations/{comparison['candidate']['explanation_id']}")
    assert candidate.json()["result"]["output"] == APPROVED


def test_counterfactuals_are_valid_for_each_version_as_its_rule_says(service, reference) -> None:
    refused = applicant(
        reference, (reference["education-num"] < 13) & (reference["capital-gain"] == 0)
    )
    comparison = compare(service, "counterfactual", refused)
    checks = comparison["counterfactuals"]
    # the model's own: raising capital gains past 5,000 approves, but not on the candidate
    on_gains = [
        c for c in checks
        if c["of"] == "model" and [ch["feature"] for ch in c["changes"]] == ["capital-gain"]
    ]  # fmt: skip
    assert on_gains, checks
    assert all(c["valid_for_model"] and not c["valid_for_candidate"] for c in on_gains)
    for check in checks:
        assert check["valid_for_model"] == approved_by_model(check["values"]), check
        assert check["valid_for_candidate"] == approved_by_candidate(check["values"]), check
        assert check["model"]["label"] == (
            APPROVED if approved_by_model(check["values"]) else REFUSED
        )


def test_the_page_says_the_decision_changes_and_the_rule_fails(service, for_gains) -> None:
    page = HTTP.get(
        f"{service}/explain",
        params={
            "method": "anchors",
            "compare": "candidate",
            "payload": json.dumps(payload(for_gains)),
            **SEED,
        },
        timeout=TIMEOUT,
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "The decision changes" in page.text
    assert "approved" in page.text and "refused" in page.text
    assert "<strong>no</strong>" in page.text


def test_a_logged_window_rescored_by_the_candidate(service, models, reference) -> None:
    model_base, _ = models
    rows = reference.iloc[:60].copy()
    rows.loc[rows.index[:8], "capital-gain"] = 7500  # some approved for gains alone
    records = [{k: native(v) for k, v in r.items()} for r in rows.to_dict("records")]
    request = v2_request([[r[n] for n in paths.FEATURES] for r in records])
    served = HTTP.post(model_base + RULE_PATH, json=request, timeout=60)
    assert served.status_code == 200
    key = f"window-{uuid.uuid4()}"
    for side, data in (("request", request), ("response", served.json())):
        sent = message(kserve_event(side, data, key))
        logged = HTTP.post(f"{service}/inferences", content=sent.body, headers=sent.headers)
        assert logged.status_code == 200, logged.text
    # compare is /explain's: a logged inference is explained by the model alone
    by_id = HTTP.post(
        f"{service}/inferences/{quote(key + '/0', safe='')}/explain",
        params={"method": "anchors", "compare": "candidate"},
    )
    assert by_id.status_code == 422, by_id.text
    assert by_id.json()["error"]["detail"]["field"] == "compare"
    by_hand = sum(approved_by_model(r) != approved_by_candidate(r) for r in records)
    assert by_hand >= 8
    window = HTTP.get(f"{service}/compare/inferences", params={"window": "1d"}, timeout=60)
    assert window.status_code == 200, window.text
    body = window.json()
    assert body["rescored"] == len(records) and body["unanswered"] == 0
    assert body["changed"] == by_hand
    assert body["share_changed"] == pytest.approx(by_hand / len(records), abs=1e-6)
    assert {
        (c["logged"], c["candidate"]) for c in body["changes"] if c["logged"] != c["candidate"]
    } == {(APPROVED, REFUSED)}
    before = changed_metric(service)
    page = HTTP.get(f"{service}/compare/inferences", params={"window": "1d", "format": "html"})
    assert f"<strong>{by_hand}</strong> of {len(records)}" in page.text
    assert changed_metric(service) - before == by_hand  # each re-scoring is counted


def changed_metric(base: str, kind: str = "inference") -> float:
    """``explainer_comparisons_total{kind=<kind>,outcome="changed"}``."""
    line = f'explainer_comparisons_total{{kind="{kind}",outcome="changed"}} '
    text = HTTP.get(f"{base}/metrics").text
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_bad_requests_name_their_field(service, for_gains) -> None:
    bad_window = HTTP.get(f"{service}/compare/inferences", params={"window": "forever"})
    assert bad_window.status_code == 422
    assert bad_window.json()["error"]["detail"]["field"] == "window"
    unknown = HTTP.post(
        f"{service}/explain",
        params={"method": "anchors", "compare": "http://evil/"},
        json=payload(for_gains),
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["detail"]["field"] == "compare"
    for shape in ({"mode": "async"}, {"format": "alibi"}):
        refused = HTTP.post(
            f"{service}/explain",
            params={"method": "anchors", "compare": "candidate", **shape},
            json=payload(for_gains),
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["detail"]["field"] == next(iter(shape))
    every = HTTP.post(
        f"{service}/explain",
        params={"method": "anchors", "compare": "candidate", "instance": "all"},
        json=payload(for_gains),
    )
    assert every.status_code == 422
    assert every.json()["error"]["detail"]["field"] == "instance"


# --- a candidate that does not answer ------------------------------------------------------

GONE = "models.candidate (income, version gone)"


def test_readiness_says_the_candidate_answers(service: str) -> None:
    state = HTTP.get(f"{service}/health/ready", timeout=60).json()
    assert state["ready"] is True
    assert state["candidate"] == {
        "ready": True, "reason": "ready", "name": "income", "version": "no-capital-gains",
    }  # fmt: skip


@pytest.fixture(scope="module")
def orphaned(models: tuple[str, str], tmp_path_factory, output_dir: Path) -> Iterator[str]:
    """A service whose candidate listens nowhere (a free port nobody took)."""
    directory = tmp_path_factory.mktemp("compare-gone")
    settings = config(models[0], f"http://127.0.0.1:{free_port()}", directory / "e.sqlite")
    settings["models"]["candidate"]["version"] = "gone"
    settings["model"]["retries"] = 0
    log = output_dir / per_worker("compare-gone-service.log")
    process, base = explainer_service(settings, directory, log=log)
    try:
        wait_until_ready(base)
        yield base
    finally:
        process.stop()


def test_a_candidate_down_leaves_the_service_ready_and_names_itself(
    orphaned: str, for_gains: dict[str, Any]
) -> None:
    """Ready (the model answers), the comparison degraded: readiness, the landing page and
    the error of compare=candidate name the candidate and its version."""
    answer = HTTP.get(f"{orphaned}/health/ready", timeout=60)
    assert answer.status_code == 200
    state = answer.json()
    assert state["ready"] is True and state["reason"] == "ready"
    candidate = state["candidate"]
    assert (candidate["ready"], candidate["name"], candidate["version"]) == (
        False,
        "income",
        "gone",
    )
    assert candidate["reason"].startswith(f"{GONE}: the model is unreachable")
    landing = HTTP.get(f"{orphaned}/", timeout=60).text
    assert "compare unavailable" in landing and GONE in landing
    compared = HTTP.post(
        f"{orphaned}/explain",
        params={"method": "shap", "compare": "candidate", **SEED},
        json=payload(for_gains),
        timeout=TIMEOUT,
    )
    assert compared.status_code == 503, compared.text
    error = compared.json()["error"]
    assert error["code"] == "model_unavailable" and error["message"].startswith(GONE)


def run_predict(settings: dict[str, Any], record: dict[str, Any], directory: Path, *extra: str):
    import subprocess
    import sys

    import yaml

    (directory / "explainer.yaml").write_text(yaml.safe_dump(settings))
    (directory / "payload.json").write_text(json.dumps(payload(record)))
    script = Path(sys.executable).parent / "explainer-service"
    command = [str(script), "predict", str(directory / "payload.json")]
    command += ["--config", str(directory / "explainer.yaml"), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_predict_checks_the_candidate_too(models, for_gains, tmp_path: Path) -> None:
    """The check command sends the rows to both versions: the candidate refuses the
    applicant the model approves for capital gains; a candidate that listens nowhere exits
    2 naming it, and --no-candidate checks the model alone."""
    settings = config(*models, tmp_path / "e.sqlite")
    result = run_predict(settings, for_gains, tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["rows"] == 1 and answer["scores"][0][1] == 1  # approved
    assert answer["candidate"]["version"] == "no-capital-gains"
    assert answer["candidate"]["scores"][0][1] == 0  # refused: capital gains ignored
    settings["models"]["candidate"].update(url=f"http://127.0.0.1:{free_port()}", version="gone")
    settings["model"]["retries"] = 0
    down = run_predict(settings, for_gains, tmp_path)
    assert down.returncode == 2 and f"error: {GONE}: the model is unreachable" in down.stderr
    assert "Traceback" not in down.stderr
    alone = run_predict(settings, for_gains, tmp_path, "--no-candidate")
    assert alone.returncode == 0, alone.stderr
    assert "candidate" not in json.loads(alone.stdout)
