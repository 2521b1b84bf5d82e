"""The notebook client against a live service and the example model server."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.client import (
    AsyncExplainerClient,
    Batch,
    ExplainerClient,
    Explanation,
    InvalidRequestError,
    NotFoundError,
    NotReadyError,
    ServiceUnreachableError,
    UnauthorizedError,
    send_plotly_again,
)
from explainers import explanation as library
from tests.helpers.browser import dump_file_dom, visible_text
from tests.helpers.render_factories import income_words
from tests.helpers.support import explainer_service, free_port, wait_until_fitted, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

TOKEN = "client-test-token-0123456789"
METHODS = ["anchors", "shap", "counterfactual"]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: a script loaded from anywhere but the service (a CDN)
FOREIGN_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"(?!http://127\.0\.0\.1:)", re.IGNORECASE)


def config(model_url: str, store: Path) -> dict:
    return {
        "model": {
            "name": "income",
            "url": model_url,
            "class_names": paths.CLASS_NAMES,
            "class_labels": {"<=50K": "refused", ">50K": "approved"},
            "subject": "applicant",
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"]},
        "service": {"store": str(store), "ready_recheck_s": 3600, "ready_interval_s": 0.3},
        "explainers": {
            "anchors": {"threshold": 0.95},
            "shap": {"nsamples": 300},
            "counterfactual": {"total": 2},
            "importance": {"rows": 300, "iterations": 2},
        },
    }


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("client")
    process, base = explainer_service(
        config(f"{income_server}/v2/models/income/infer", directory / "store.sqlite"),
        directory,
        output_dir / "service-client.log",
    )
    wait_until_ready(base)
    yield base
    process.stop()


@pytest.fixture(scope="module")
def client(service: str) -> Iterator[ExplainerClient]:
    with ExplainerClient(service, timeout=600, words=income_words()) as client:
        yield client


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return pd.read_csv(paths.HOLDOUT)[paths.FEATURES]


def model_requests(income_server: str) -> int:
    return int(HTTP.get(f"{income_server}/stats").json()["requests"])


# --- input forms ----------------------------------------------------------------------------


def test_every_input_form_is_the_same_explanation(
    client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    """A dict, a Series, a one-row DataFrame, the model's own payload (v2: the service's
    protocol) and ``{"instances": [record]}`` name the same applicant: the service answers
    the one stored explanation."""
    records = json.loads((paths.PAYLOADS / "records.json").read_text())
    record = records[1]
    row = pd.DataFrame([record])[paths.FEATURES]
    forms = {
        "dict": (record, None),
        "series": (row.iloc[0], None),
        "dataframe": (row, None),
        "v2": (json.loads((paths.PAYLOADS / "v2.json").read_text()), 1),
        "instances": ({"instances": records}, 1),
    }
    answers = {
        name: client.explain(x, "shap", instance=instance) for name, (x, instance) in forms.items()
    }
    first = answers["dict"]
    assert isinstance(first, Explanation) and isinstance(first, library.Explanation)
    assert first.instance == record and first.prediction.label == ">50K"
    assert {name: e.id for name, e in answers.items()} == {name: first.id for name in forms}
    assert library.Explanation.model_validate(first.as_library().model_dump()) == (
        first.as_library()
    )


def test_a_series_with_numpy_values_and_parameters(
    client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    row = holdout.iloc[3]  # numpy int64 values
    explanation = client.explain(row, "shap", seed=7)
    assert explanation.provenance.seed == 7
    assert explanation.instance == {
        k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
    }


def test_a_dataframe_of_more_rows_is_refused_before_any_request(
    client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match="explain_many"):
        client.explain(holdout.iloc[:2], "shap")


# --- what an explanation offers ------------------------------------------------------------


@pytest.mark.parametrize("method", [*METHODS, "importance"])
def test_to_frame_figure_url_and_html(
    method: str, client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    x = None if method == "importance" else holdout.iloc[[0]]
    explanation = client.explain(x, method)
    frame = explanation.to_frame()
    result = explanation.result
    if method == "anchors":
        assert list(frame.columns) == ["feature", "value", "condition", "operator", "bound"]
        assert len(frame) == len(result.conditions)
        assert list(frame["feature"]) == [c.feature for c in result.conditions]
        assert frame.attrs["coverage"] == result.coverage
        for feature, value in zip(frame["feature"], frame["value"], strict=True):
            assert value == explanation.instance[feature]
    elif method == "shap":
        assert list(frame.columns) == ["feature", "value", "contribution", "standard_error"]
        assert list(frame["feature"]) == paths.FEATURES
        total = frame.attrs["base_value"] + frame["contribution"].sum()
        assert math.isclose(total, explanation.fidelity.model_output, abs_tol=1e-6)
    elif method == "counterfactual":
        assert list(frame.columns)[:4] == ["counterfactual", "feature", "value", "change"]
        changes = [c for cf in result.counterfactuals for c in cf.changes]
        assert len(frame) == len(changes) > 0
        assert all(frame["value"] != frame["change"])
        assert set(frame["feature"]).isdisjoint(
            {"age", "gender", "ethnicity", "relationship", "marital-status"}
        )
    else:
        assert list(frame.columns) == ["feature", "importance", "std"]
        assert sorted(frame["feature"]) == sorted(paths.FEATURES)
        assert list(frame["importance"]) == sorted(frame["importance"], reverse=True)
    assert explanation.figure is not None
    page = HTTP.get(explanation.url, timeout=60)
    assert page.status_code == 200 and explanation.id in page.text
    html = explanation._repr_html_()
    assert explanation.summary and explanation.summary.split(";")[0] in visible_text(html)
    assert "Plotly.newPlot" in html and not FOREIGN_SCRIPT.search(html)


def test_the_client_speaks_the_given_words(client: ExplainerClient, holdout: pd.DataFrame) -> None:
    explanation = client.explain(holdout.iloc[0], "shap")
    label = explanation.prediction.label
    assert {"<=50K": "refused", ">50K": "approved"}[label] in explanation.summary
    assert "applicant" in explanation.summary


# --- errors -------------------------------------------------------------------------------


def test_a_wrong_payload_raises_the_services_code_message_and_request_id(
    client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    bad = {**holdout.iloc[0].to_dict(), "workclass": "Astronaut"}
    with pytest.raises(InvalidRequestError) as caught:
        client.explain(bad, "anchors")
    error = caught.value
    assert (error.status, error.code) == (422, "unknown_category")
    assert "workclass" in error.message and error.detail["field"] == "workclass"
    assert REQUEST_ID.match(error.request_id)
    assert error.request_id in str(error)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"method": "nonsense"}, "unknown_method"),
        ({"method": "anchors", "threshold": 7}, "invalid_parameter"),
        ({"method": "anchors", "instance": 5}, "invalid_payload"),
    ],
)
def test_wrong_requests_raise_invalid_request(
    kwargs: dict, code: str, client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.explain({"instances": [holdout.iloc[0].to_dict()]}, **kwargs)
    assert (caught.value.status, caught.value.code) == (422, code)


def test_an_unknown_id_raises_not_found(client: ExplainerClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.get("no-such-explanation")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert caught.value.request_id


def test_a_service_that_is_not_there_raises_unreachable() -> None:
    with (
        ExplainerClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client,
        pytest.raises(ServiceUnreachableError),
    ):
        client.explain({"age": 30}, "shap")


@pytest.fixture(scope="module")
def guarded(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    """Tokens on, and an explainer that cannot be fitted (the test plugin, told to fail):
    never ready."""
    directory = tmp_path_factory.mktemp("guarded")
    settings = config(f"{income_server}/v2/models/income/infer", directory / "store.sqlite")
    settings["explainers"] = {"constant": {"fail_fit": True}}
    settings["service"]["workers"] = 1
    settings["auth"] = {"tokens": [TOKEN]}
    process, base = explainer_service(
        settings, directory, output_dir / "service-client-guarded.log"
    )
    wait_until_fitted(base)
    yield base
    process.stop()


def test_without_a_token_raises_unauthorized(guarded: str) -> None:
    with ExplainerClient(guarded) as client, pytest.raises(UnauthorizedError) as caught:
        client.explain(method="importance")
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_a_service_not_ready_raises_not_ready(guarded: str) -> None:
    with ExplainerClient(guarded, token=TOKEN) as client:
        assert not client.ready()
        with pytest.raises(NotReadyError) as caught:
            client.explain(method="importance")
    assert (caught.value.status, caught.value.code) == (503, "not_ready")
    assert "cannot fit the explainers" in caught.value.message


# --- batches -------------------------------------------------------------------------------


def test_explain_many_resumes_from_the_store_and_collects_row_errors(
    client: ExplainerClient, holdout: pd.DataFrame, income_server: str
) -> None:
    rows = holdout.iloc[10:16].copy()
    rows.index = [f"applicant-{i}" for i in range(len(rows))]
    bad = rows.iloc[[0]].assign(workclass="Astronaut")
    bad.index = ["bad"]
    first = client.explain_many(rows.iloc[:3], "shap", concurrency=2, seed=11, progress=False)
    assert (first.computed, first.stored, first.errors) == (3, 0, {})

    data = pd.concat([rows.iloc[:3], bad, rows.iloc[3:]])
    before = model_requests(income_server)
    batch = client.explain_many(data, "shap", concurrency=3, seed=11)
    assert isinstance(batch, Batch) and len(batch) == len(data)
    assert (batch.stored, batch.computed) == (3, 3)
    assert set(batch.errors) == {"bad"}
    assert isinstance(batch.errors["bad"], InvalidRequestError)
    assert batch.errors["bad"].code == "unknown_category"
    assert batch.explanations[3] is None
    for i in (0, 1, 2):
        assert batch.explanations[i].id == first.explanations[i].id
    for key, explanation in zip(data.index, batch.explanations, strict=True):
        if explanation is not None:
            assert explanation.instance == {
                k: (v.item() if hasattr(v, "item") else v) for k, v in data.loc[key].items()
            }
    frame = batch.to_frame()
    assert list(frame.index) == list(data.index)
    assert frame.loc["bad", "code"] == "unknown_category" and pd.isna(frame.loc["bad", "id"])
    assert frame["error"].isna().sum() == len(data) - 1
    assert set(paths.FEATURES) <= set(frame.columns)
    assert frame.loc["applicant-4", "id"] == batch.explanations[5].id

    during = model_requests(income_server)
    again = client.explain_many(data, "shap", concurrency=3, seed=11, progress=False)
    assert (again.stored, again.computed, set(again.errors)) == (6, 0, {"bad"})
    assert model_requests(income_server) == during > before
    assert [e and e.id for e in again] == [e and e.id for e in batch]


def test_explain_many_takes_a_list_of_payloads(client: ExplainerClient) -> None:
    payload = json.loads((paths.PAYLOADS / "v2.json").read_text())
    records = json.loads((paths.PAYLOADS / "records.json").read_text())
    batch = client.explain_many([payload, records[1]], "shap", progress=False)
    assert batch.index == [0, 1] and not batch.errors
    assert batch.explanations[0].instance == records[0]
    assert batch.explanations[1].instance == records[1]


def test_compare_shows_the_methods_side_by_side(
    client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    send_plotly_again()  # as in a fresh notebook
    comparison = client.compare(holdout.iloc[1], methods=[*METHODS, "nonsense"])
    assert list(comparison.explanations) == METHODS
    assert set(comparison.errors) == {"nonsense"}
    assert all(
        e.instance == comparison["anchors"].instance for e in comparison.explanations.values()
    )
    frame = comparison.to_frame()
    assert list(frame["method"].unique()) == METHODS
    html = comparison._repr_html_()
    assert html.count('class="xs-card"') == 4
    assert html.count("Plotly.newPlot") == 3
    assert html.count("window.PlotlyConfig") == 1  # plotly.js inlined once


# --- the asyncio twin ----------------------------------------------------------------------


def test_the_async_client_answers_as_the_blocking_one(
    service: str, client: ExplainerClient, holdout: pd.DataFrame
) -> None:
    async def run() -> tuple:
        async with AsyncExplainerClient(service, timeout=600) as aclient:
            one = await aclient.explain(holdout.iloc[0], "shap")
            batch = await aclient.explain_many(holdout.iloc[:2], "shap", progress=False)
            with pytest.raises(InvalidRequestError) as caught:
                await aclient.explain({**holdout.iloc[0].to_dict(), "age": "old"}, "shap")
            with pytest.raises(NotFoundError):
                await aclient.get("no-such-explanation")
            comparison = await aclient.compare(holdout.iloc[0], ["shap", "anchors"])
            return one, batch, caught.value, comparison

    one, batch, error, comparison = asyncio.run(run())
    assert one.id == client.explain(holdout.iloc[0], "shap").id
    assert batch.explanations[0].id == one.id and batch.stored >= 1
    assert (error.status, error.code) == (422, "invalid_instance")
    assert comparison["shap"].id == one.id and "anchors" in comparison.explanations


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.parametrize("plotlyjs", ["inline", "service"])
def test_the_html_draws_its_figure_offline(
    plotlyjs: str, service: str, holdout: pd.DataFrame, tmp_path: Path, output_dir: Path
) -> None:
    """The notebook output as a page of its own, in Chromium with every host but 127.0.0.1
    unresolvable: plotly draws the figure (inlined, or from the service)."""
    with ExplainerClient(service, timeout=600, plotlyjs=plotlyjs) as client:
        explanation = client.explain(holdout.iloc[2], "shap")
    send_plotly_again()  # the output saved as a page of its own
    html = explanation._repr_html_()
    if plotlyjs == "service":
        assert f'src="{service}/static/plotly.min.js"' in html and len(html) < 100_000
    page = tmp_path / "output.html"
    page.write_text(f"<!doctype html><html><body>{html}</body></html>", encoding="utf-8")
    dom = dump_file_dom(page)
    assert "main-svg" in dom, dom[:2000]
    assert "from the average" in visible_text(dom)  # the figure's title, drawn by plotly
    (output_dir / f"client-output-{plotlyjs}.html").write_text(page.read_text())
