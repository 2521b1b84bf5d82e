"""What a request must be before a route sees it, in process: the host allow-list, compressed
bodies, HEAD answered as GET, redirects that never repeat the Host header."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi import FastAPI

from explainer_service.security.requests import host_allowed
from tests.unit.security.test_security import (
    PAYLOAD,
    PUBLIC,
    SECRET,
    TOKENS,
    bearer,
    call,
    error_code,
    make_app,
)

DEFAULT = ["*.svc", "*.svc.cluster.local", "*.cluster.local"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("[::1]:8080", True),
        ("10.1.2.3", True),  # a kubelet probe or Prometheus, by pod IP
        ("localhost:8080", True),
        ("explainer:8080", True),  # a Service's short name
        ("explainer.risk.svc:8080", True),
        ("explainer.risk.svc.cluster.local", True),
        ("evil.example", False),
        ("evil.example:8080", False),
        ("svc.evil.example", False),
        ("", True),
    ],
)
def test_which_hosts_the_default_list_allows(host: str, allowed: bool) -> None:
    assert host_allowed(host, DEFAULT) is allowed


@pytest.fixture(scope="module")
def open_app(income_files: Path) -> FastAPI:
    return make_app()


def test_a_rebound_dns_name_is_refused_and_the_public_host_passes(income_files: Path) -> None:
    """A page of evil.example whose DNS name now points at the service cannot read it."""
    app = make_app(tokens=TOKENS, link_secret=SECRET, public_base_url=PUBLIC)
    refused = call(
        app, "GET", "/links", params={"payload": PAYLOAD}, headers={"Host": "evil.example"}
    )
    assert refused.status_code == 400 and error_code(refused) == "untrusted_host"
    assert refused.json()["error"]["detail"] == {"host": "evil.example"}
    public = {"Host": "explainer.example.org", **bearer(TOKENS[0])}
    assert (
        call(app, "GET", "/links", params={"payload": PAYLOAD}, headers=public).status_code == 200
    )
    anywhere = make_app(["*"])
    assert (
        call(anywhere, "GET", "/health/live", headers={"Host": "evil.example"}).status_code == 200
    )


@pytest.mark.parametrize("path", ["/explain?method=shap", "/v2/models/model/infer"])
@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_a_compressed_body_is_415_naming_its_encoding(
    open_app: FastAPI, path: str, encoding: str
) -> None:
    body = gzip.compress(PAYLOAD.encode())
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    answer = call(open_app, "POST", path, content=body, headers=headers)
    assert answer.status_code == 415, answer.text
    assert error_code(answer) == "unsupported_encoding"
    assert answer.json()["error"]["detail"] == {"content_encoding": encoding}


def test_identity_is_no_encoding(open_app: FastAPI) -> None:
    headers = {"Content-Encoding": "identity", "Content-Type": "application/json"}
    answer = call(open_app, "POST", "/explain?method=shap", content=PAYLOAD, headers=headers)
    assert answer.status_code == 503 and error_code(answer) == "not_ready"  # past the guard


@pytest.mark.parametrize("path", ["/health/live", "/", "/explanations", "/links?payload=x"])
def test_head_is_answered_as_get_without_a_body(open_app: FastAPI, path: str) -> None:
    got = call(open_app, "GET", path)
    head = call(open_app, "HEAD", path)
    assert head.status_code == got.status_code != 405
    assert head.content == b""
    assert head.headers.get("content-type") == got.headers.get("content-type")


def test_head_of_a_signed_link_is_judged_by_its_signature(income_files: Path) -> None:
    app = make_app(tokens=TOKENS, link_secret=SECRET, public_base_url=PUBLIC)
    links = call(app, "GET", "/links", params={"payload": PAYLOAD}, headers=bearer(TOKENS[0]))
    link = links.json()["shap"].removeprefix(PUBLIC)
    signed = call(app, "HEAD", link, headers={"Accept": "application/json"})
    assert signed.status_code == 503 and signed.content == b""  # past the signature: not ready
    assert call(app, "HEAD", link.replace("sig=", "sig=0")).status_code == 403


@pytest.mark.parametrize(
    ("public", "expected"), [(None, "/explain"), (PUBLIC, PUBLIC + "/explain")]
)
def test_a_slash_redirect_never_repeats_the_host(
    income_files: Path, public: str | None, expected: str
) -> None:
    app = make_app(["*"], public_base_url=public) if public else make_app(["*"])
    answer = call(
        app, "POST", "/explain/?method=shap", content=PAYLOAD, headers={"Host": "evil.example"}
    )
    assert answer.status_code == 307
    assert answer.headers["location"] == expected + "?method=shap"
    assert "evil" not in json.dumps(dict(answer.headers))
