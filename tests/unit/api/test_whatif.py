"""The what-if routes in process (no lifespan: no worker, and the model is not listening):
what they refuse before any model call, and the grant a page carries with access control on.
The live model's answers are tested in tests/integration/test_whatif_browser.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.security import LinkSigner
from explainer_service.security.access import GRANT_PATH
from explainer_service.settings import Settings
from explainers.wire import native
from tests.helpers.render_factories import anchors

TOKEN = "whatif-token-0123456789"
SECRET = "whatif-secret-0123456789"


def make_app(overrides: dict | None = None, **auth: object) -> FastAPI:
    return create_app(
        Settings(
            model={"url": "http://127.0.0.1:9/v2/models/m/infer", "retries": 0},
            data={"reference": paths.REFERENCE, "target": "loan"},
            features={"source": "reference", "overrides": overrides or {}},
            service={"store": ":memory:"},
            auth=auth,
        )
    )


@pytest.fixture(scope="module")
def open_app(income_files: Path) -> FastAPI:
    return make_app()


@pytest.fixture(scope="module")
def locked_app(income_files: Path) -> FastAPI:
    return make_app(tokens=[TOKEN], link_secret=SECRET)


@pytest.fixture(scope="module")
def ranged_app(income_files: Path) -> FastAPI:
    return make_app({"hours-per-week": {"min": 20, "max": 60}})


def call(app: FastAPI, url: str, body: object) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.post(url, json=body)

    return asyncio.run(send())


def applicant(**values: object) -> dict:
    record = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].iloc[3].to_dict()
    return {**{k: native(v) for k, v in record.items()}, **values}


def error(response: httpx.Response) -> tuple[int, str, object]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["detail"].get("field")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (applicant(**{"hours-per-week": 100}), "hours-per-week"),  # the data has 1 to 99
        (applicant(**{"capital-gain": -1}), "capital-gain"),
        (applicant(workclass="Astronaut"), "workclass"),
        (applicant(age="forty"), "age"),
        ({k: v for k, v in applicant().items() if k != "age"}, "age"),
        (applicant(height=180), "height"),
    ],
    ids=["over-the-range", "under-the-range", "category", "type", "missing", "unknown"],
)
def test_a_value_the_editor_would_not_offer_is_refused_naming_it(
    open_app: FastAPI, values: dict, field: str
) -> None:
    for route in ("/whatif/predict", "/whatif/explain"):
        status, _, named = error(call(open_app, route, {"values": values}))
        assert (status, named) == (422, field), route


def test_explain_takes_a_method_of_one_row_and_an_original_that_exists(open_app) -> None:
    importance = call(open_app, "/whatif/explain", {"values": applicant(), "method": "importance"})
    assert error(importance)[:2] == (422, "invalid_parameter")
    unknown = call(open_app, "/whatif/explain", {"values": applicant(), "original": "no-such-id"})
    assert error(unknown)[:2] == (404, "not_found")
    hostile = call(open_app, "/whatif/explain", {"values": applicant(), "original": "../x"})
    assert hostile.status_code == 422


def test_the_body_is_bounded(open_app: FastAPI) -> None:
    many = {f"f{i}": 1 for i in range(1001)}
    assert call(open_app, "/whatif/predict", {"values": many}).status_code == 422
    extra = call(open_app, "/whatif/predict", {"values": applicant(), "url": "http://x"})
    assert extra.status_code == 422  # no other key, and never a URL


def test_the_page_grant_admits_the_editor_s_calls_only(locked_app: FastAPI) -> None:
    """Past the access control, the out-of-range value is refused by the route (422): the
    request got in. Without the grant, or with one altered, it does not."""
    grant = locked_app.state.link(GRANT_PATH).partition("?")[2]
    body = {"values": applicant(**{"hours-per-week": 100})}
    assert call(locked_app, f"/whatif/predict?{grant}", body).status_code == 422
    assert call(locked_app, f"/whatif/explain?{grant}", body).status_code == 422
    assert call(locked_app, "/whatif/predict", body).status_code == 401
    altered = grant.replace("sig=", "sig=0")
    assert call(locked_app, f"/whatif/predict?{altered}", body).status_code == 403
    # the grant opens no other POST, and a link signed for another path is no grant
    assert call(locked_app, f"/explain?{grant}", {"instances": [applicant()]}).status_code == 401
    other = locked_app.state.link("/explanations?limit=5").partition("?")[2]
    assert call(locked_app, f"/whatif/predict?{other}", body).status_code == 403


def test_an_expired_grant_is_refused(locked_app: FastAPI) -> None:
    past = LinkSigner(SECRET.encode(), ttl_s=60, clock=lambda: time.time() - 3600)
    grant = past.sign(GRANT_PATH).partition("?")[2]
    response = call(locked_app, f"/whatif/predict?{grant}", {"values": applicant()})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "link_expired")


def test_configured_ranges_bound_the_editor_s_numbers(ranged_app: FastAPI) -> None:
    """features.overrides sets hours worked to 20-60 (the data has 1-99): 61 is refused
    naming the feature and the configured range; 60 gets past every check to the model
    (which is not listening here: 503, not 422)."""
    over = call(ranged_app, "/whatif/predict", {"values": applicant(**{"hours-per-week": 61})})
    assert error(over) == (422, "invalid_instance", "hours-per-week")
    assert "20 to 60" in over.json()["error"]["message"]
    assert "features.overrides" in over.json()["error"]["message"]
    within = call(ranged_app, "/whatif/predict", {"values": applicant(**{"hours-per-week": 60})})
    assert within.status_code == 503, within.text
    unknown = {"values": applicant(), "original": "no-such-id"}
    assert error(call(ranged_app, "/whatif/predict", unknown))[:2] == (404, "not_found")


def test_the_original_s_own_values_pass_outside_the_configured_range(ranged_app) -> None:
    """An applicant who works 70 hours, over the configured 60: with the explanation the
    editor was opened on, 70 passes the checks (to the model, not listening here: 503) and
    71 does not."""
    record = applicant(**{"hours-per-week": 70})
    explanation = anchors(0.3).model_copy(update={"instance": record})
    store = ranged_app.state.service.store
    claimed, _ = store.claim(f"key-{time.time()}", "anchors", {}, "test", 30)
    assert store.finish(claimed.id, "test", explanation)
    kept = call(ranged_app, "/whatif/predict", {"values": record, "original": claimed.id})
    assert kept.status_code == 503, kept.text
    more = {"values": {**record, "hours-per-week": 71}, "original": claimed.id}
    assert error(call(ranged_app, "/whatif/predict", more)) == (
        422, "invalid_instance", "hours-per-week",
    )  # fmt: skip
    alone = call(ranged_app, "/whatif/predict", {"values": record})
    assert error(alone) == (422, "invalid_instance", "hours-per-week")
