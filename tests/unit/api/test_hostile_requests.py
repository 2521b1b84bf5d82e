"""Inputs that were answered 500 (or not as documented), each answered now with its 4xx and
a JSON error naming what is wrong. The application is the real one, served by uvicorn in
this process, with a stand-in worker (no model is called); hostile inputs against separate
processes are in ``integration/test_hostile_inputs.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.web import HTTP

APPLICANT = {
    "age": 39,
    "workclass": "Private",
    "education": "HS-grad",
    "education-num": 9,
    "marital-status": "Divorced",
    "occupation": "Sales",
    "relationship": "Not-in-family",
    "ethnicity": "White",
    "gender": "Male",
    "capital-gain": 0,
    "capital-loss": 0,
    "hours-per-week": 40,
}


def records(**values: Any) -> str:
    """A records payload of one applicant with some values replaced, as JSON text (NaN and
    Infinity spelled as Python's json writes them, which its parser reads back)."""
    return json.dumps({"instances": [{**APPLICANT, **values}]})


@pytest.fixture(scope="module")
def base(income_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = fake_app(tmp_path_factory.mktemp("inputs"))
    with served(app) as url:
        wait_for_worker(app)
        yield url


def post(base: str, path: str, content: str | bytes) -> httpx.Response:
    return HTTP.post(
        base + path, content=content, headers={"content-type": "application/json"}, timeout=60
    )


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


# (path, body, code, field): each was a 500 before
FEATURE_VALUES = [
    ("nan category", records(workclass=float("nan")), "unknown_category", "workclass"),
    ("infinite category", records(workclass=float("inf")), "unknown_category", "workclass"),
    ("1e400 category", records(workclass=1).replace(": 1,", ": 1e400,"), "unknown_category",
     "workclass"),
    ("nan number", records(age=float("nan")), "invalid_instance", "age"),
    ("1e400 number", records(age=1).replace('"age": 1', '"age": 1e400'), "invalid_instance",
     "age"),
    ("10**400", records(age=10**400), "invalid_instance", "age"),
    ("a fraction for an integer", records(age=39.5), "invalid_instance", "age"),
    ("text for a number", records(age="39"), "invalid_instance", "age"),
    ("a boolean for a number", records(age=True), "invalid_instance", "age"),
    ("an object for a number", records(age={"years": 39}), "invalid_instance", "age"),
    ("a list for a category", records(workclass=["Private"]), "unknown_category", "workclass"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [case[1:] for case in FEATURE_VALUES],
    ids=[case[0] for case in FEATURE_VALUES],
)
def test_a_feature_value_that_is_wrong_is_a_422_naming_the_feature(
    base: str, body: str, code: str, field: str
) -> None:
    error = error_of(post(base, "/explain?method=shap", body), 422)
    assert (error["code"], error["detail"]["field"]) == (code, field)
    assert field in error["message"]
    json.dumps(error, allow_nan=False)  # what was sent is named in text JSON can carry


def test_a_number_of_more_digits_than_python_reads_is_a_422(base: str) -> None:
    body = '{"instances": [{"age": ' + "9" * 5000 + "}]}"
    error = error_of(post(base, "/explain?method=shap", body), 422)
    assert error["code"] == "invalid_payload"


def test_a_large_value_is_named_short(base: str) -> None:
    error = error_of(post(base, "/explain?method=shap", records(workclass="x" * 1_000_000)), 422)
    assert len(error["message"]) < 500 and len(json.dumps(error["detail"])) < 500


# found by schemathesis: a TypeError (500) before data.names was checked to be a list
SELDON = [
    {"data": {"names": True, "ndarray": [[False, False, 2.8944235045897924e16], []]}},
    {"data": {"names": 3, "tensor": {"shape": [1, 12], "values": list(APPLICANT.values())}}},
]


@pytest.mark.parametrize("body", SELDON)
def test_seldon_names_that_are_not_a_list_of_strings(base: str, body: dict) -> None:
    error = error_of(post(base, "/api/v1.0/explain", json.dumps(body)), 422)
    assert (error["code"], error["detail"]["field"]) == ("invalid_payload", "data.names")


def test_a_page_is_a_documented_answer_of_post_explain(base: str) -> None:
    """Found by schemathesis: POST /explain?format=html answered text/html, which the
    document did not list for 200."""
    response = post(base, "/explain?method=shap&format=html", records())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    document = HTTP.get(base + "/openapi.json").json()
    assert "text/html" in document["paths"]["/explain"]["post"]["responses"]["200"]["content"]
