"""Access control and browser security, in process (no lifespan: no worker, no model call).

Routes that need fitted explainers answer 503 ``not_ready`` here, which is enough to show
that a request got past the security middlewares."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.render import drilldown_link
from explainer_service.security import LinkSigner
from explainer_service.settings import Settings
from explainers.explanation import Cost, Explanation, OtherFidelity, OtherResult, Provenance

TOKENS = ["first-token-0123456789", "second-token-0123456789"]
SECRET = "the-link-secret-0123456789"
PUBLIC = "https://explainer.example.org"
USER = "X-Forwarded-User"
PAYLOAD = json.dumps(json.loads((paths.PAYLOADS / "v2.json").read_text()))


def make_app(allowed_hosts: list[str] | None = None, **security) -> FastAPI:
    service: dict = {"store": ":memory:"}
    if allowed_hosts is not None:
        service["allowed_hosts"] = allowed_hosts
    return create_app(
        Settings(
            model={"url": "http://127.0.0.1:9/v2/models/m/infer"},
            data={"reference": paths.REFERENCE, "target": "loan"},
            features={"source": "reference"},  # no model to ask for its inputs
            service=service,
            auth=security,
        )
    )


@pytest.fixture(scope="module")
def app(income_files: Path) -> FastAPI:
    """Tokens, a trusted header, signed links and a public base URL."""
    return make_app(tokens=TOKENS, trusted_header=USER, link_secret=SECRET, public_base_url=PUBLIC)


@pytest.fixture(scope="module")
def open_app(income_files: Path) -> FastAPI:
    """Nothing configured: no access control, relative unsigned links."""
    return make_app()


def call(app: FastAPI, method: str, url: str, **kwargs) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(send())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def local(link: str) -> str:
    """A link the service printed, as the path and query to request in process."""
    assert link.startswith(PUBLIC + "/"), link
    return link.removeprefix(PUBLIC)


def stored(app: FastAPI, done: bool) -> str:
    """The id of an explanation put into the store: done, or still pending."""
    store = app.state.service.store
    task = {"method": "plugin", "row": None, "params": {}}
    record, _ = store.claim(secrets.token_hex(16), "plugin", task, "test", 3600)
    id = record.id
    if done:
        explanation = Explanation(
            method="plugin",
            instance=None,
            prediction=None,
            result=OtherResult(method="plugin"),
            fidelity=OtherFidelity(method="plugin"),
            cost=Cost(model_calls=1, rows=1, model_seconds=0.0, seconds=0.0),
            provenance=Provenance(
                explainer="test",
                params={},
                seed=None,
                versions={},
                reference_fingerprint="",
                reference_rows=0,
            ),
        )
        store.finish(id, "test", explanation)
    return id


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# --- tokens and the trusted header ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("a-wrong-token-0123456789"),
        bearer(TOKENS[0][:-1]),
        {"Authorization": f"Basic {TOKENS[0]}"},
        {"Authorization": TOKENS[0]},
        {USER: ""},
    ],
    ids=["none", "wrong", "prefix", "basic", "no-scheme", "empty-header"],
)
def test_without_a_valid_token_the_answer_is_401(app: FastAPI, headers) -> None:
    response = call(app, "GET", "/explanations", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_code(response) == "unauthorized"
    assert set(response.json()["error"]) == {"code", "message", "detail", "request_id"}


def test_a_browser_gets_the_401_as_a_page(app: FastAPI) -> None:
    response = call(app, "GET", "/", headers={"Accept": "text/html,*/*"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "unauthorized" in response.text


@pytest.mark.parametrize("token", TOKENS)
def test_any_configured_token_opens_the_routes(app: FastAPI, token: str) -> None:
    response = call(app, "GET", "/explanations", headers=bearer(token))
    assert response.status_code == 200 and isinstance(response.json(), list)
    landing = call(app, "GET", "/", headers={"Authorization": f"bearer {token}"})
    assert landing.status_code == 200


def test_the_trusted_header_opens_the_routes(app: FastAPI) -> None:
    response = call(app, "GET", "/explanations", headers={USER.lower(): "ada@example.org"})
    assert response.status_code == 200


def test_probes_and_static_scripts_stay_open(app: FastAPI) -> None:
    assert call(app, "GET", "/health/live").status_code == 200
    assert call(app, "GET", "/health/ready").status_code == 503  # not ready, not refused
    assert call(app, "GET", "/static/figure.js").status_code == 200
    assert call(app, "GET", "/openapi.json").status_code == 401


def test_without_tokens_nothing_is_asked(open_app: FastAPI) -> None:
    assert call(open_app, "GET", "/explanations").status_code == 200


def test_secrets_are_shown_nowhere(app: FastAPI) -> None:
    settings = app.state.service.settings
    shown = [
        repr(settings),
        str(settings.model_dump()),
        call(app, "GET", "/", headers=bearer(TOKENS[0])).text,
        call(app, "GET", "/openapi.json", headers=bearer(TOKENS[0])).text,
    ]
    for text in shown:
        assert all(token not in text for token in TOKENS) and SECRET not in text


# --- signed links -------------------------------------------------------------------------


def test_links_are_signed_and_open_without_a_token(app: FastAPI) -> None:
    links = call(app, "GET", "/links", params={"payload": PAYLOAD}, headers=bearer(TOKENS[0]))
    assert links.status_code == 200, links.text
    assert set(links.json()) == {"anchors", "shap", "counterfactual"}
    for link in links.json().values():
        query = dict(parse_qsl(urlsplit(link).query))
        assert json.loads(query["payload"]) == json.loads(PAYLOAD)
        assert {"expires", "sig"} <= set(query)
        # past the access control; no worker runs in this test, so the route says so
        response = call(app, "GET", local(link), headers={"Accept": "application/json"})
        assert (response.status_code, error_code(response)) == (503, "not_ready")


def test_a_signed_page_links_to_signed_pages(app: FastAPI) -> None:
    id = stored(app, done=True)
    answer = call(app, "GET", f"/explanations/{id}", headers=bearer(TOKENS[1])).json()
    page = call(app, "GET", local(answer["links"]["html"]))  # no token
    assert page.status_code == 200 and id in page.text
    json_link = next(a for a in _hrefs(page.text) if "/explanations/" in a)
    again = call(app, "GET", local(json_link))
    assert again.status_code == 200 and again.json()["id"] == id


def test_the_pending_page_refreshes_through_a_signed_link(app: FastAPI) -> None:
    id = stored(app, done=False)
    listed = call(app, "GET", "/explanations", headers=bearer(TOKENS[0])).json()
    link = next(e["links"]["html"] for e in listed if e["id"] == id)
    page = call(app, "GET", local(link))
    assert page.status_code == 200 and "refreshes itself" in page.text
    refresh = page.text.split('http-equiv="refresh" content="2; url=')[1].split('"')[0]
    assert call(app, "GET", local(refresh.replace("&amp;", "&"))).status_code == 200


def test_a_link_changed_in_any_character_is_refused(app: FastAPI) -> None:
    id = stored(app, done=True)
    signed = local(app.state.link(f"/explanations/{id}?format=json"))
    assert call(app, "GET", signed).status_code == 200
    question = signed.index("?")
    for i, char in enumerate(signed):
        altered = signed[:i] + ("y" if char == "x" else "x") + signed[i + 1 :]
        query = dict(parse_qsl(urlsplit(altered).query))
        response = call(app, "GET", altered, headers={"Accept": "application/json"})
        if i == question or "sig" not in query:  # no signature left: a request without one
            assert response.status_code == 401, altered
        else:
            assert (response.status_code, error_code(response)) == (403, "forbidden"), altered


def test_an_expired_link_is_refused(app: FastAPI) -> None:
    past = LinkSigner(SECRET.encode(), ttl_s=60, clock=lambda: time.time() - 3600)
    expired = past.sign("/explanations?limit=5")
    response = call(app, "GET", expired)
    assert (response.status_code, error_code(response)) == (403, "link_expired")
    # even with a token: a signed link is judged by its signature
    assert call(app, "GET", expired, headers=bearer(TOKENS[0])).status_code == 403
    fresh = LinkSigner(SECRET.encode(), ttl_s=60).sign("/explanations?limit=5")
    assert call(app, "GET", fresh).status_code == 200


def test_a_browser_gets_the_403_as_a_page(app: FastAPI) -> None:
    signed = local(app.state.link("/explanations?limit=5"))
    response = call(
        app, "GET", signed.replace("limit=5", "limit=6"), headers={"Accept": "text/html"}
    )
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")


def test_a_signature_does_not_authorise_a_post(app: FastAPI) -> None:
    signed = local(app.state.link(drilldown_link("shap", json.loads(PAYLOAD))))
    assert call(app, "GET", signed, headers={"Accept": "application/json"}).status_code == 503
    response = call(
        app, "POST", signed, content=PAYLOAD, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (401, "unauthorized")


# --- links come from the configuration, never from Host ----------------------------------


def test_a_forged_host_does_not_change_the_links(income_files: Path) -> None:
    """With every host allowed (``service.allowed_hosts: ['*']``); by default such a host is
    refused (tests/unit/security/test_requests.py)."""
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    app = make_app(["*"], tokens=TOKENS, link_secret=SECRET, public_base_url=PUBLIC)
    configured = call(
        app, "GET", "/links", params={"payload": PAYLOAD}, headers={**forged, **bearer(TOKENS[0])}
    ).json()
    assert all(link.startswith(PUBLIC + "/explain?") for link in configured.values())
    open_app = make_app(["*"])
    relative = call(open_app, "GET", "/links", params={"payload": PAYLOAD}, headers=forged)
    assert relative.status_code == 200
    assert all(link.startswith("/explain?") for link in relative.json().values())
    assert "evil" not in relative.text + json.dumps(configured)


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "headers", "status", "content_type"),
    [
        ("/health/live", {}, 200, "application/json"),
        ("/", bearer(TOKENS[0]), 200, "text/html"),
        ("/explanations", {}, 401, "application/json"),
        ("/no/such/route", bearer(TOKENS[0]), 404, "application/json"),
    ],
)
def test_every_answer_carries_the_security_headers(
    app: FastAPI, route: str, headers: dict, status: int, content_type: str
) -> None:
    response = call(app, "GET", route, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(content_type)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_run_no_inline_script(app: FastAPI) -> None:
    page = call(app, "GET", "/", headers=bearer(TOKENS[0])).text
    assert "<script" not in page.replace('<script src="/static/', "")


# --- cross-site requests --------------------------------------------------------------------


def post(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    return call(
        app,
        "POST",
        "/explain?method=shap",
        content=PAYLOAD,
        headers={"Accept": "application/json", **headers},
    )


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://service.evil.example"},
    ],
)
def test_a_cross_site_post_is_refused(open_app: FastAPI, app: FastAPI, headers) -> None:
    response = post(open_app, {**JSON, **headers})
    assert (response.status_code, error_code(response)) == (403, "cross_site")
    response = post(app, {**JSON, **headers, USER: "ada@example.org"})  # a proxy's session
    assert (response.status_code, error_code(response)) == (403, "cross_site")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://service", "Sec-Fetch-Site": "same-origin"},
        {"Origin": PUBLIC},
    ],
)
def test_a_same_origin_post_passes(app: FastAPI, headers) -> None:
    response = post(app, {**JSON, **headers, **bearer(TOKENS[0])})
    assert (response.status_code, error_code(response)) == (503, "not_ready")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain;charset=UTF-8",
    ],
)
def test_form_and_text_bodies_are_refused(open_app: FastAPI, content_type: str) -> None:
    response = post(open_app, {"Content-Type": content_type})
    assert (response.status_code, error_code(response)) == (415, "unsupported_media_type")
    assert "application/json" in response.json()["error"]["message"]
    for route in ("/v1/models/model:explain", "/api/v1.0/explain"):
        refused = call(
            open_app, "POST", route, content=PAYLOAD, headers={"Content-Type": content_type}
        )
        assert refused.status_code == 415


def test_json_or_no_content_type_passes(open_app: FastAPI) -> None:
    assert post(open_app, JSON).status_code == 503
    assert post(open_app, {}).status_code == 503


def _hrefs(html: str) -> list[str]:
    return [part.split('"')[0].replace("&amp;", "&") for part in html.split('href="')[1:]]


# --- /docs and /redoc offline ---------------------------------------------------------------


def _assets(html: str) -> list[str]:
    """The scripts, styles and icons a page loads."""
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_documentation_loads_nothing_from_other_hosts(
    app: FastAPI, open_app: FastAPI, page: str
) -> None:
    response = call(open_app, "GET", page)
    assert response.status_code == 200
    assert re.findall(r"https?://|//[a-z]", response.text) == []
    assets = _assets(response.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:  # served by the service, open like every static script
        assert asset.startswith("/static/docs/")
        assert call(app, "GET", asset).status_code == 200, asset
    sources = response.headers["content-security-policy"].replace(";", " ").split()
    assert [s for s in sources if "." in s or s.startswith(("http", "//"))] == []
    assert "'unsafe-inline'" in sources  # the page's own inline script starts Swagger UI
