"""schemathesis against the service's own ``/openapi.json``: every route, the compatibility
routes included, answers no 5xx, and every answer (status, content type, body) is one the
document states.

The body check is as strict as the document can make it: formats are validated, and every
object an answer holds is taken as closed (``additionalProperties: false``) unless its
schema says otherwise; the service's own bodies say so already (``api.bodies.Body``). An
answer with a key its model does not declare fails, as does a model that lost a key its
route still answers.

The application is the real one (configuration, schema, codecs, store, error handling) with
a stand-in worker that answers each task at once with a small Explanation, so that the
requests schemathesis makes valid get through to a 200 quickly. Each operation is fuzzed
with inputs the document allows and with inputs it does not. Bounded for ``make test``
(``SCHEMATHESIS_EXAMPLES``, default 20 per operation and kind); a longer run:
``SCHEMATHESIS_EXAMPLES=500 .venv/bin/python -m pytest tests/unit/api/test_openapi_fuzz.py``.
Each failure it has found is kept in ``test_inputs.py`` as a plain test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.inprocess import fake_app, served, wait_for_worker
from tests.helpers.openapi_answers import closed_answers
from tests.helpers.web import HTTP

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Stated, so that no schemathesis.toml found on the way makes the checks laxer.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "response_schema_conformance": {"enabled": True, "validate-formats": True},
            "content_type_conformance": {"enabled": True},
            "status_code_conformance": {"enabled": True},
        }
    }
)
OPERATIONS = [
    ("POST", "/explain"),
    ("GET", "/explain"),
    ("GET", "/explanations/{id}"),
    ("GET", "/explanations"),
    ("POST", "/batches"),
    ("GET", "/batches/{id}"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("POST", "/v1/models/{name}:explain"),
    ("POST", "/api/v1.0/explain"),
    ("GET", "/links"),
    ("GET", "/compare/inferences"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/inferences"),
    ("GET", "/inferences/{id}"),
    ("POST", "/inferences/{id}/explain"),
    ("GET", "/inferences/{id}/explain"),
    ("POST", "/inferences"),
    ("GET", "/fairness"),
    ("POST", "/whatif/predict"),
    ("POST", "/whatif/explain"),
    ("GET", "/vocabulary"),
]


@pytest.fixture(scope="module")
def api(
    income_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    """The schema the application serves, and where it serves it (uvicorn, in a thread);
    the model server is real (readiness calls it)."""
    app = fake_app(tmp_path_factory.mktemp("fuzz"), income_server)
    with served(app) as base:
        wait_for_worker(app, ready=True)
        document = HTTP.get(f"{base}/openapi.json", timeout=60).raise_for_status().json()
        yield schemathesis.openapi.from_dict(closed_answers(document), config=CONFIG), base


def test_every_operation_is_fuzzed(api) -> None:
    schema, _ = api
    documented = {(method.upper(), path) for path, ops in schema.raw_schema["paths"].items()
                  for method in ops}  # fmt: skip
    assert documented == set(OPERATIONS)


#: Operations without inputs have nothing to make invalid (nor has any text as a batch id).
WITHOUT_INPUTS = {
    ("GET", path)
    for path in (
        "/health/live",
        "/health/ready",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/batches/{id}",
        "/vocabulary",
    )
} | {("POST", "/inferences")}  # a CloudEvent: its body and headers are not in the document
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (method, path) not in WITHOUT_INPUTS
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_route_answers_as_documented(
    api, method: str, path: str, mode: GenerationMode
) -> None:
    schema, base = api
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base, checks=CHECKS, timeout=60)

    answers_as_documented()
