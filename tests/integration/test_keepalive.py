"""One kept-alive client keeps working after the service answered it an error.

The service runs as a real ``explainer-service serve`` process (uvicorn) in front of the
example model server; one ``httpx.Client`` alternates bad and good requests on the same
pooled connection. A service that drops the connection after an error answer without
saying ``Connection: close`` makes the client's next request fail with a reset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from examples.income import paths
from tests.helpers.support import explainer_service, wait_until_ready

pytestmark = pytest.mark.integration

Call = Callable[[httpx.Client, str], httpx.Response]


def _applicant() -> dict:
    body = json.loads((paths.PAYLOADS / "v2.json").read_text())
    return dict(zip(paths.FEATURES, body["inputs"][0]["data"][: len(paths.FEATURES)], strict=True))


GOOD = {"instances": [_applicant()]}
BAD: dict[str, tuple[Call, int, str]] = {
    "invalid query parameter": (
        lambda c, base: c.post(f"{base}/explain?method=shap&instance=first", json=GOOD),
        422,
        "invalid_request",
    ),
    "invalid query parameter, large unread body": (
        lambda c, base: c.post(
            f"{base}/explain?mode=later", json={"instances": [_applicant()] * 5000}
        ),
        422,
        "invalid_request",
    ),
    "bad JSON body": (
        lambda c, base: c.post(
            f"{base}/explain?method=shap",
            content=b'{"instances": [',
            headers={"Content-Type": "application/json"},
        ),
        400,
        "malformed_json",
    ),
    "unknown method": (
        lambda c, base: c.post(f"{base}/explain?method=lime", json=GOOD),
        422,
        "unknown_method",
    ),
    "unknown category": (
        lambda c, base: c.post(
            f"{base}/explain?method=shap",
            json={"instances": [{**_applicant(), "workclass": "Astronaut"}]},
        ),
        422,
        "unknown_category",
    ),
    "invalid method parameter": (
        lambda c, base: c.post(f"{base}/explain?method=shap&nsamples=-1", json=GOOD),
        422,
        "invalid_parameter",
    ),
    "unknown explanation": (
        lambda c, base: c.get(f"{base}/explanations/no-such-id"),
        404,
        "not_found",
    ),
    "unknown route": (lambda c, base: c.get(f"{base}/nowhere"), 404, "not_found"),
}


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("keepalive")
    config = {
        "model": {
            "name": "income",
            "url": income_server + "/v2/models/income/infer",
            "class_names": paths.CLASS_NAMES,
        },
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "service": {"store": ":memory:", "ready_recheck_s": 3600, "ready_interval_s": 0.3},
        "explainers": {"shap": {"nsamples": 50}},
    }
    process, base = explainer_service(config, directory, output_dir / "service-keepalive.log")
    try:
        wait_until_ready(base)
        yield base
    finally:
        process.stop()


def test_every_request_after_an_error_answer_succeeds_on_the_kept_alive_client(
    service: str,
) -> None:
    seen: list[str] = []
    # one connection, so every request reuses the one the error was answered on
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=1)) as client:
        for round in range(3):
            for kind, (call, status, code) in BAD.items():
                bad = call(client, service)
                assert bad.status_code == status, (kind, bad.text)
                assert bad.json()["error"]["code"] == code, kind
                assert bad.headers.get("connection", "").lower() != "close", kind
                good = client.post(f"{service}/explain?method=shap", json=GOOD)
                assert good.status_code == 200, (kind, round, good.text)
                seen.append(good.json()["id"])
    assert len(seen) == 3 * len(BAD) and len(set(seen)) == 1
