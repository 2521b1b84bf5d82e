"""Logged inferences explained by id, against real processes: the example model server, a
second model server with a retrained model (the model changed after logging), and the
explainer service; inferences written into the service's SQLite store as the sink would."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import joblib
import pandas as pd
import pytest
import yaml

from examples.income import paths
from examples.income.train import build_pipeline
from explainer_service.client import (
    AsyncExplainerClient,
    ConflictError,
    ExplainerClient,
    NotFoundError,
)
from explainer_service.store import open_store
from explainer_service.store.inferences import LoggedSide
from explainers.wire import native
from tests.helpers.browser import dump_dom
from tests.helpers.logger_events import kserve_event, message, seldon_event, v2_request
from tests.helpers.support import (
    ROOT,
    explainer_service,
    free_port,
    python_server,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

TOKEN = "inference-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED = {"seed": "7"}


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Applicants of the holdout data, as records of wire values."""
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[start : start + count]
    return [{k: native(v) for k, v in record.items()} for record in frame.to_dict("records")]


def answers(model_base: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the model server answers for ``records`` (V2), as the inference log keeps it."""
    inputs = [
        {
            "name": name,
            "shape": [len(records)],
            "datatype": "BYTES" if isinstance(records[0][name], str) else "FP64",
            "data": [r[name] for r in records],
        }
        for name in paths.FEATURES
    ]
    response = HTTP.post(f"{model_base}/v2/models/income/infer", json={"inputs": inputs})
    response.raise_for_status()
    scores = response.json()["outputs"][0]["data"]
    pairs = [scores[i : i + 2] for i in range(0, len(scores), 2)]
    return [{"scores": pair} for pair in pairs]


def log(
    store_path: Path,
    event: str,
    records: list[dict[str, Any]],
    logged: list[dict[str, Any]] | None,
    *,
    request: bool = True,
) -> list[str]:
    """Write an event's rows (request and response sides) into the store; their ids."""
    n = len(records)
    ids = [event if n == 1 else f"{event}/{k}" for k in range(n)]
    sides = []
    for k, (id, record) in enumerate(zip(ids, records, strict=True)):
        common: dict[str, Any] = {
            "id": id, "event_id": event, "row_index": k, "row_count": n, "source": "kserve",
            "model": "income", "protocol": "v2", "endpoint": "default", "component": "predictor",
        }  # fmt: skip
        if request:
            sides.append(LoggedSide(**common, side="request", instance=list(record.values())))
        if logged is not None:
            answer = logged[k]
            label = paths.CLASS_NAMES[max(range(2), key=lambda c: answer["scores"][c])]
            score = max(answer["scores"])
            sides.append(
                LoggedSide(**common, side="response", answer=answer, label=label, score=score)
            )
    store = open_store(str(store_path))
    try:
        store.log_inferences(sides)
    finally:
        store.close()
    return ids


def config(model_base: str, store: Path, **inference_log: Any) -> dict[str, Any]:
    return {
        "model": {
            "name": "income",
            "url": f"{model_base}/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
            "class_labels": {"<=50K": "refused", ">50K": "approved"},
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "service": {"store": str(store), "workers": 1, "ready_recheck_s": 3600},
        "explainers": {"anchors": {}, "shap": {"nsamples": 200, "background_size": 50}},
        "inference_log": inference_log,
    }


LINK_SECRET = "links-are-signed-with-this"


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[tuple[str, Path]]:
    """The service on the example model, with tokens and signed links, refusing to explain
    an inference whose answer the model no longer gives; (base URL, store file)."""
    directory = tmp_path_factory.mktemp("by-id")
    store = directory / "store.sqlite"
    settings = config(income_server, store, on_model_changed="refuse")
    settings["auth"] = {"tokens": [TOKEN], "link_secret": LINK_SECRET}
    process, base = explainer_service(settings, directory, output_dir / "service-by-id.log")
    try:
        wait_until_ready(base)  # /health/* is open whatever the tokens
        yield base, store
    finally:
        process.stop()


@pytest.fixture(scope="module")
def retrained(income_files: Path, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    """A second model server whose model was trained again on inverted labels: it answers
    differently from the example model for the same applicants."""
    directory = tmp_path_factory.mktemp("retrained")
    reference = pd.read_csv(paths.REFERENCE)
    pipeline = build_pipeline().set_params(model__n_estimators=10)
    low, high = paths.CLASS_NAMES
    inverted = reference[paths.TARGET].map({low: high, high: low})
    pipeline.fit(reference[paths.FEATURES], inverted)
    joblib.dump(pipeline, directory / "retrained.joblib")
    port = free_port()
    server = python_server(
        "examples.income.model_server",
        port,
        "--model",
        str(directory / "retrained.joblib"),
        log=output_dir / "retrained-model.log",
    ).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_explained_by_id_equals_post_explain_of_its_payload(
    service: tuple[str, Path], income_server: str
) -> None:
    base, store = service
    records = rows(2)
    ids = log(store, "kserve-equal", records, answers(income_server, records))
    assert ids == ["kserve-equal/0", "kserve-equal/1"]
    for id, record in zip(ids, records, strict=True):
        by_id = HTTP.post(
            f"{base}/inferences/{quote(id, safe='')}/explain",
            params={"method": "anchors", **SEED},
            headers=AUTH,
            timeout=300,
        )
        assert by_id.status_code == 200, by_id.text
        direct = HTTP.post(
            f"{base}/explain",
            params={"method": "anchors", **SEED},
            json={"instances": [record]},
            headers=AUTH,
            timeout=300,
        )
        assert direct.status_code == 200, direct.text
        ours, theirs = by_id.json(), direct.json()
        assert ours["id"] == theirs["id"]  # the same cache key: one stored explanation
        assert ours["result"] == theirs["result"] and ours["instance"] == record
        assert ours["inference_id"] == id
        assert ours["agreement"]["agrees"] is True, ours["agreement"]
        assert ours["agreement"]["outcome"] == "agrees"
    # the id may also be written with its slash as is
    plain = HTTP.post(
        f"{base}/inferences/{ids[1]}/explain", params={"method": "anchors", **SEED}, headers=AUTH,
        timeout=300,
    )  # fmt: skip
    assert plain.status_code == 200 and plain.json()["inference_id"] == ids[1]
    metrics = HTTP.get(f"{base}/metrics").text
    assert 'explainer_inference_agreement_total{outcome="agrees"}' in metrics
    assert 'explainer_model_calls_total{method="agreement"}' in metrics


@pytest.mark.parametrize("logger", ["kserve", "seldon"])
def test_logged_over_http_by_a_logger_then_explained_by_its_join_key(
    service: tuple[str, Path], income_server: str, logger: str
) -> None:
    """The whole path: the model answers a client, the logger's two events (CloudEvents
    built with the SDK, the answer first) reach POST /inferences, and the decision is
    explained by KServe's ``Ce-Id`` or Seldon's ``Ce-Requestid``, as POST /explain explains
    the same payload."""
    base, _ = service
    record = rows(1, start=11 if logger == "kserve" else 12)[0]
    payload = v2_request([[record[name] for name in paths.FEATURES]])
    served = HTTP.post(f"{income_server}/v2/models/income/infer", json=payload, timeout=60)
    assert served.status_code == 200, served.text
    key = f"{logger}-over-http-{uuid.uuid4()}"
    for side, data in (("response", served.json()), ("request", payload)):
        event = (
            kserve_event(side, data, key)
            if logger == "kserve"
            else seldon_event(side, data, key, protocol="v2")
        )
        sent = message(event, "binary" if logger == "kserve" else "structured")
        answer = HTTP.post(
            f"{base}/inferences", content=sent.body, headers={**sent.headers, **AUTH}, timeout=60
        )
        assert answer.status_code == 200, answer.text
    logged = HTTP.get(f"{base}/inferences/{key}", headers=AUTH, timeout=60)
    assert logged.status_code == 200, logged.text
    by_id = HTTP.post(
        f"{base}/inferences/{key}/explain",
        params={"method": "shap", **SEED},
        headers=AUTH,
        timeout=300,
    )
    assert by_id.status_code == 200, by_id.text
    direct = HTTP.post(
        f"{base}/explain", params={"method": "shap", **SEED}, json=payload, headers=AUTH,
        timeout=300,
    )  # fmt: skip
    assert direct.status_code == 200, direct.text
    ours, theirs = by_id.json(), direct.json()
    assert ours["id"] == theirs["id"] and ours["result"] == theirs["result"]
    assert ours["inference_id"] == key and ours["agreement"]["agrees"] is True


def test_the_record_lists_every_explanation(service: tuple[str, Path], income_server: str) -> None:
    base, store = service
    records = rows(1, start=5)
    (id,) = log(store, "kserve-record", records, answers(income_server, records))
    made = {}
    for method in ("anchors", "shap"):
        response = HTTP.post(
            f"{base}/inferences/{id}/explain", params={"method": method, **SEED}, headers=AUTH,
            timeout=300,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        made[method] = response.json()["id"]
    record = HTTP.get(f"{base}/inferences/{id}", headers=AUTH)
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["instance"] == records[0] and body["answer"]["scores"]
    assert body["endpoint"] == "default" and body["component"] == "predictor"
    listed = {e["method"]: e for e in body["explanations"]}
    assert {m: e["id"] for m, e in listed.items()} == made
    assert all(e["status"] == "done" and e["agrees"] is True for e in listed.values())
    assert set(body["explain"]) == {"anchors", "shap"}
    page = HTTP.get(f"{base}/inferences/{id}?format=html", headers=AUTH)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "The record of decision kserve-record" in page.text
    assert records[0]["occupation"] in page.text  # what came in
    for explanation_id in made.values():
        assert f"/explanations/{explanation_id}?format=html" in page.text


def test_the_page_opens_from_a_signed_id_link_without_the_payload(
    service: tuple[str, Path], income_server: str
) -> None:
    base, store = service
    records = rows(1, start=9)
    (id,) = log(store, "kserve-drill", records, answers(income_server, records))
    links = HTTP.get(f"{base}/inferences/{id}", headers=AUTH).json()["explain"]
    link = links["shap"]
    parts = urlsplit(link)
    assert parts.path == f"/inferences/{id}/explain"
    assert set(parse_qs(parts.query)) == {"method", "expires", "sig"}
    for name, value in records[0].items():  # no feature value is in the URL
        assert name not in link
        if isinstance(value, str):
            assert value not in link
    unsigned = HTTP.get(f"{base}/inferences/{id}/explain?method=shap")
    assert unsigned.status_code == 401  # without the signature, a token is needed
    dom = dump_dom(base + link)  # headless Chromium, no token, nothing but 127.0.0.1
    assert "main-svg" in dom, dom[:2000]
    assert "still gives the logged answer" in dom
    assert f"logged inference {id}" in dom
    altered = link.replace("method=shap", "method=anchors")
    assert HTTP.get(base + altered).status_code == 403
    record = HTTP.get(f"{base}/inferences/{id}", headers=AUTH).json()["links"]["html"]
    assert set(parse_qs(urlsplit(record).query)) == {"format", "expires", "sig"}
    page = dump_dom(base + record)  # the record of the decision, from its signed link
    assert f"The record of decision {id}" in page
    assert "yes, when asked again" in page and ">shap<" in page


def test_unknown_ids_and_requests_without_a_row(
    service: tuple[str, Path], income_server: str
) -> None:
    base, store = service
    missing = HTTP.get(f"{base}/inferences/no-such-id", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["detail"] == {"inference_id": "no-such-id"}
    assert "no-such-id" in missing.json()["error"]["message"]
    explain_missing = HTTP.post(f"{base}/inferences/no-such/id/explain", headers=AUTH)
    assert explain_missing.status_code == 404
    assert "'no-such/id'" in explain_missing.json()["error"]["message"]
    records = rows(1, start=12)
    (id,) = log(store, "answer-only", records, answers(income_server, records), request=False)
    only = HTTP.post(f"{base}/inferences/{id}/explain", headers=AUTH)
    assert only.status_code == 409
    assert only.json()["error"]["code"] == "inference_incomplete"
    assert "only the model's answer was logged" in only.json()["error"]["message"]
    unknown = HTTP.post(f"{base}/inferences/kserve-drill/explain?method=nope", headers=AUTH)
    assert unknown.status_code == 422 and unknown.json()["error"]["detail"]["field"] == "method"


def test_refused_when_the_model_no_longer_gives_the_logged_answer(
    service: tuple[str, Path], income_server: str
) -> None:
    base, store = service
    records = rows(1, start=15)
    (scores,) = answers(income_server, records)
    flipped = {"scores": list(reversed(scores["scores"]))}  # another model's decision
    (id,) = log(store, "kserve-flipped", records, [flipped])
    refused = HTTP.post(f"{base}/inferences/{id}/explain", headers=AUTH, timeout=300)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "model_changed"
    assert "now answers differently" in error["message"]
    assert error["detail"]["logged_scores"] == flipped["scores"]
    assert error["detail"]["live_scores"] == pytest.approx(scores["scores"])
    assert HTTP.get(f"{base}/inferences/{id}", headers=AUTH).json()["explanations"] == []


def test_the_explanation_says_the_model_changed(
    income_server: str, retrained: str, tmp_path: Path, output_dir: Path
) -> None:
    """Logged with the example model; explained by a service on the retrained one."""
    store = tmp_path / "changed.sqlite"
    process, base = explainer_service(
        config(retrained, store), tmp_path, output_dir / "service-changed.log"
    )
    try:
        wait_until_ready(base)
        records = rows(40)
        before, after = answers(income_server, records), answers(retrained, records)
        changed = [
            k
            for k in range(len(records))
            if max(range(2), key=lambda c: before[k]["scores"][c])
            != max(range(2), key=lambda c: after[k]["scores"][c])
        ]
        assert changed, "the retrained model answers as the example model does"
        k = changed[0]
        (id,) = log(store, "kserve-changed", [records[k]], [before[k]])
        response = HTTP.post(
            f"{base}/inferences/{id}/explain", params={"method": "anchors", **SEED}, timeout=300
        )
        assert response.status_code == 200, response.text
        agreement = response.json()["agreement"]
        assert agreement["agrees"] is False and agreement["outcome"] == "differs"
        assert "now answers differently" in agreement["message"]
        assert "today's model" in agreement["message"]
        assert agreement["live"]["scores"] == pytest.approx(after[k]["scores"])
        assert (
            response.json()["prediction"]["label"]
            != paths.CLASS_NAMES[max(range(2), key=lambda c: before[k]["scores"][c])]
        )  # it explains what the model says today
        page = HTTP.get(f"{base}/inferences/{id}/explain?method=anchors&seed=7", timeout=300)
        assert page.status_code == 200
        assert 'class="warning" id="agreement"' in page.text
        assert "The model now answers differently" in page.text
        record = HTTP.get(f"{base}/inferences/{id}").json()
        assert record["explanations"][0]["agrees"] is False
        # the URL template of docs/kibana.md, filled in as Kibana fills it
        text = (ROOT / "docs" / "kibana.md").read_text()
        template = next(line for line in text.splitlines() if "/explain?method" in line
                        and "/inferences/{{value}}" in line).strip()  # fmt: skip
        link = template.replace("http://EXPLAINER", base).replace("{{value}}", quote(id, safe=""))
        dom = dump_dom(link)
        assert "The model now answers differently" in dom and "main-svg" in dom
    finally:
        process.stop()


def test_pages_of_the_list(service: tuple[str, Path], income_server: str) -> None:
    base, store = service
    records = rows(5, start=20)
    ids = log(store, "kserve-five", records, answers(income_server, records))
    seen: list[str] = []
    url: str | None = f"{base}/inferences?limit=2"
    while url and len(seen) < 100:
        page = HTTP.get(url, headers=AUTH)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()]
        next_link = page.links.get("next", {}).get("url")
        assert next_link is None or "sig=" not in next_link  # a page of the log is not shared
        url = base + next_link if next_link else None
    assert len(seen) == len(set(seen))  # no inference twice
    assert seen[: len(ids)] == ids  # the newest event first; its rows by id
    everything = HTTP.get(f"{base}/inferences?limit=500", headers=AUTH).json()
    assert seen == [item["id"] for item in everything]
    refused = HTTP.get(
        f"{base}/inferences", params={"limit": 500, "label": "<=50K"}, headers=AUTH
    ).json()
    assert refused and all(item["label"] == "<=50K" for item in refused)
    bad = HTTP.get(f"{base}/inferences?before=nope", headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["detail"]["field"] == "before"


def test_the_client_speaks_it(service: tuple[str, Path], income_server: str) -> None:
    base, store = service
    records = rows(3, start=30)
    ids = log(store, "kserve-client", records, answers(income_server, records))
    with ExplainerClient(base, token=TOKEN) as client:
        frame = client.inferences(limit=3)
        assert list(frame.index) == ids
        assert frame.loc[ids[0], "occupation"] == records[0]["occupation"]
        assert set(frame["label"]) <= set(paths.CLASS_NAMES)
        by_id = client.explain_inference(ids[0], "anchors", seed=7)
        direct = client.explain(records[0], "anchors", seed=7)
        assert by_id.id == direct.id and by_id.result == direct.result
        assert by_id.inference_id == ids[0] and by_id.agreement is not None
        assert by_id.agreement["agrees"] is True and direct.inference_id is None
        assert by_id.to_frame().equals(direct.to_frame())
        with pytest.raises(NotFoundError):
            client.explain_inference("no-such-id")
        async_by_id, async_frame = asyncio.run(asynchronous(base, ids[0]))
        assert async_by_id.id == by_id.id and async_by_id.agreement == by_id.agreement
        assert list(async_frame.index) == ids[:2]
        (only,) = log(store, "client-answer-only", records[:1], answers(income_server, records[:1]),
                      request=False)  # fmt: skip
        with pytest.raises(ConflictError) as refused:
            client.explain_inference(only)
        assert refused.value.code == "inference_incomplete"


def test_the_command_prints_signed_links_the_service_opens(
    service: tuple[str, Path], income_server: str, tmp_path: Path
) -> None:
    base, store = service
    records = rows(1, start=40)
    (id,) = log(store, "kserve-cli/x", records, answers(income_server, records))
    settings = config(income_server, store)
    settings["auth"] = {"link_secret": LINK_SECRET, "public_base_url": base}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(settings))
    script = Path(sys.executable).parent / "explainer-service"
    printed = subprocess.run(
        [str(script), "inference-links", id, "--method", "shap", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    lines = [line.split("\t") for line in printed.splitlines()]
    assert [(i, what) for i, what, _ in lines] == [(id, "record"), (id, "shap")]
    for _, _, link in lines:
        assert link.startswith(f"{base}/inferences/kserve-cli%2Fx") and "&sig=" in link
        assert records[0]["occupation"] not in link
    record, shap = (HTTP.get(link, timeout=300) for _, _, link in lines)  # no token
    assert record.status_code == 200 and f"The record of decision {id}" in record.text
    assert shap.status_code in (200, 202) and "text/html" in shap.headers["content-type"]


async def asynchronous(base: str, id: str) -> tuple[Any, pd.DataFrame]:
    async with AsyncExplainerClient(base, token=TOKEN) as client:
        return await client.explain_inference(id, "anchors", seed=7), await client.inferences(2)
