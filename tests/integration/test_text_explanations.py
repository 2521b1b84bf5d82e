"""A text model whose truth is known (``tests.helpers.servers.keyword_model``: flags a
message iff it holds "refund" or "scam" not right after a negation), served by a real
process, explained by a real service over V2 ``BYTES``, and by the same runtime over the
other protocols' payloads; hostile texts are refused by name or shown inertly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from explainer_service.runtime import FittedRuntime
from explainer_service.settings import Settings
from tests.helpers import reference
from tests.helpers.browser import dump_dom, element_text
from tests.helpers.support import (
    explainer_service,
    free_port,
    python_server,
    wait_until_ready,
)
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

MESSAGE = "Hello, I want a refund for my order."  # 10 tokens: SHAP is exact
LONG = (
    "Dear support team, the parcel arrived two weeks late and the box was torn open. "
    "I want a refund for the whole order because the cheese had gone bad."
)
CORPUS = [
    "please refund me now",
    "great food, fast delivery",
    "this is not a scam",
    "the order was late",
    "love it, will buy again",
    "is this a scam?",
    "no refund needed, thanks",
    "the cheese was mouldy",
]
XSS = "<script>document.title='pwned'</script> refund \u202eevil"


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    port = free_port()
    process = python_server("tests.helpers.servers.keyword_model", port).wait_ready()
    yield f"http://127.0.0.1:{port}"
    process.stop()


def _config(model_url: str, directory: Path, protocol: str = "v2") -> dict:
    paths = {
        "v2": "/v2/models/keywords/infer",
        "kserve-v1": "/v1/models/keywords:predict",
        "seldon": "/api/v1.0/predictions",
        "mlflow": "/invocations",
    }
    reference = directory / "messages.csv"
    pd.DataFrame({"message": CORPUS}).to_csv(reference, index=False)
    return {
        "model": {
            "name": "keywords",
            "url": model_url + paths[protocol],
            "protocol": protocol,
            "class_names": ["other", "flagged"],
            "subject": "message",
            "metadata_wait_s": 0,
        },
        "data": {"reference": str(reference)},
        "features": {"text": ["message"], "max_text_chars": 400_000},
        "service": {"store": ":memory:", "ready_recheck_s": 3600, "workers": 1},
        "explainers": {"anchors": {}, "shap": {}, "lime": {"n_samples": 500}},
    }


@pytest.fixture(scope="module")
def service(model_url: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("text")
    config = _config(model_url, directory)
    process, base = explainer_service(config, directory, output_dir / "service-text.log")
    wait_until_ready(base)
    yield base
    process.stop()


def v2(text: str) -> dict:
    """The payload MLServer's StringCodec sends: one BYTES input, shape [1, 1]."""
    return {
        "inputs": [
            {
                "name": "text",
                "shape": [1, 1],
                "datatype": "BYTES",
                "parameters": {"content_type": "str"},
                "data": [text],
            }
        ]
    }


def explain(base: str, method: str, payload: dict) -> httpx.Response:
    return HTTP.post(f"{base}/explain?method={method}", json=payload, timeout=300)


def test_anchor_names_the_flagging_word(service: str) -> None:
    response = explain(service, "anchors", v2(LONG))
    assert response.status_code == 200, response.text
    e = response.json()
    assert e["prediction"]["label"] == "flagged"
    assert e["result"]["words"] == ["refund"]
    assert e["fidelity"]["threshold_met"] and e["result"]["precision"] >= 0.95
    assert e["result"]["coverage"] == pytest.approx(2 / len(CORPUS))  # "refund" twice
    assert all("refund" in t for t in e["result"]["examples_hold"])


def test_shap_is_exact_and_ranks_the_word_first(service: str) -> None:
    e = explain(service, "shap", v2(MESSAGE)).json()
    assert e["fidelity"]["exact"] is True
    weights = {t["text"]: t["weight"] for t in e["result"]["tokens"]}
    assert weights["refund"] == pytest.approx(1.0)
    assert all(w == 0.0 for word, w in weights.items() if word != "refund")


def test_shap_samples_a_long_text_and_ranks_the_word_first(service: str) -> None:
    e = explain(service, "shap", v2(LONG)).json()
    assert e["fidelity"]["exact"] is False
    tokens = sorted(e["result"]["tokens"], key=lambda t: -abs(t["weight"]))
    assert tokens[0]["text"] == "refund"
    assert all(abs(t["weight"]) < 1e-9 for t in tokens[1:])


def test_lime_ranks_the_word_first(service: str) -> None:
    e = explain(service, "lime", v2(LONG)).json()
    tokens = sorted(e["result"]["tokens"], key=lambda t: -t["weight"])
    assert tokens[0]["text"] == "refund"
    assert tokens[0]["weight"] > 5 * abs(tokens[1]["weight"])
    assert e["fidelity"]["score"] >= 0.9


@pytest.mark.parametrize(
    ("protocol", "payload"),
    [
        ("kserve-v1", {"instances": [LONG]}),
        ("seldon", {"data": {"strData": LONG}}),
        ("seldon", {"data": {"ndarray": [LONG]}}),
        ("mlflow", {"dataframe_split": {"columns": ["message"], "data": [[LONG]]}}),
        ("mlflow", {"dataframe_records": [{"message": LONG}]}),
    ],
)
def test_other_protocols_give_the_same_explanation(
    service: str, model_url: str, tmp_path: Path, protocol: str, payload: dict
) -> None:
    reference = explain(service, "anchors", v2(LONG)).json()
    settings = Settings.model_validate(_config(model_url, tmp_path, protocol))
    runtime = FittedRuntime(settings)
    try:
        e = runtime.explain("anchors", payload)
        shap = runtime.explain("shap", payload)
    finally:
        runtime.close()
    assert e.instance == {"message": LONG}
    assert e.result.words == reference["result"]["words"]  # type: ignore[union-attr]
    assert e.result.precision == reference["result"]["precision"]  # type: ignore[union-attr]
    top = max(shap.result.tokens, key=lambda t: abs(t.weight))  # type: ignore[union-attr]
    assert top.text == "refund"


def test_text_limits_are_named(service: str) -> None:
    words = explain(service, "anchors", v2("a " * 100_000))
    assert words.status_code == 422, words.text
    assert words.json()["error"]["code"] == "text_too_long"
    assert words.json()["error"]["detail"]["limit"] == "max_text_tokens"
    big = explain(service, "anchors", v2("x" * 10_000_000))
    assert big.status_code == 413, big.text[:300]
    assert big.json()["error"]["code"] == "body_too_large"


def test_lone_surrogate_is_refused(service: str) -> None:
    body = json.dumps(v2("refund \ud800 now"))  # JSON keeps the escape
    response = HTTP.post(
        f"{service}/explain?method=shap",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422, response.text
    assert "surrogate" in response.json()["error"]["message"]


def test_hostile_text_shows_inertly(service: str) -> None:
    e = explain(service, "anchors", v2(XSS)).json()
    url = service + e["links"]["html"]
    html = HTTP.get(url).text
    assert "<script>document" not in html and ">&lt;</span>" in html  # token by token
    assert "\u202e" not in html and "⟨U+202E⟩" in html
    dom = dump_dom(url)
    assert "pwned" not in element_text(dom, "summary") and "<title>pwned" not in dom
    shown = "".join(element_text(dom, "text").split())  # the DOM's text, token by token
    assert shown == "<script>document.title='pwned'</script>refund⟨U+202E⟩evil"
    assert "refund" in element_text(dom, "anchor-words")


def test_alibi_anchor_text_finds_the_same_word_with_more_rows(service: str, model_url: str) -> None:
    """alibi 0.9.4's AnchorText on the same model server: the same anchor; rows counted at
    the server for each."""
    text = LONG.replace("refund", "scam")  # not explained before: nothing cached

    def rows() -> int:
        return int(HTTP.get(model_url + "/rows", timeout=30).json()["rows"])

    before = rows()
    ours = explain(service, "anchors", v2(text)).json()
    ours_rows = rows() - before
    before = rows()
    url = model_url + "/v2/models/keywords/infer"
    answer = reference.run("alibi_text", {"url": url, "texts": [text]})
    served = rows() - before
    (alibi,) = answer["explanations"]
    words, precision, alibi_rows = alibi["anchor"], alibi["precision"], alibi["rows"]
    assert answer["setup_rows"] + alibi_rows == served  # the engine counts what was served
    assert ours["result"]["words"] == words == ["scam"]
    assert precision >= 0.95
    assert ours["cost"]["rows"] == ours_rows
    assert ours_rows <= alibi_rows, (ours_rows, alibi_rows)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/models/keywords:explain?method=anchors", {"instances": [LONG]}),
        ("/api/v1.0/explain?method=anchors", {"data": {"strData": LONG}}),
    ],
)
def test_the_compatibility_routes_answer_alibi_s_anchor_text(
    service: str, path: str, body: dict
) -> None:
    response = HTTP.post(service + path, json=body, timeout=300)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["meta"]["name"] == "AnchorText"
    assert answer["data"]["anchor"] == ["refund"]
    assert answer["data"]["raw"]["instance"] == LONG
