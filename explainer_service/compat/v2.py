"""Open Inference Protocol routes, as MLServer's alibi-explain runtime serves them.

A client of MLServer's explainer changes only its base URL: ``POST
/v2/models/{name}/infer`` takes the V2 request with ``parameters.explain_parameters`` and
answers the explanation (alibi's shape) as JSON text in the BYTES output ``explanation``.
The explainer answers to ``<model>-explainer`` (the name MLServer and Seldon Core give an
explainer), ``<model>`` and ``<model>-<method>``; the first two use the default method
(anchors when configured), ``?method=`` chooses another. Like MLServer's anchors, the
first row of the request is explained.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from explainer_service.api.deps import DryRun, get_link, get_service, method_params, parse_json
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.alibi_params import from_alibi
from explainer_service.compat.alibi_shape import alibi_method, service_version
from explainer_service.compat.bodies import V2Response
from explainer_service.compat.common import (
    alibi_answer,
    default_method,
    explain_row,
    first_row,
    planned,
)
from explainer_service.errors import NotFoundError, PayloadError
from explainer_service.model_client.codecs import V2Codec
from explainer_service.observability import context
from explainer_service.service import Service
from explainers.errors import shown
from explainers.schema import FeatureKind, FeatureSchema, WireFormat

router = APIRouter(tags=["open inference protocol"])

#: MLServer's answer: 200 for true, 400 for false (the protocol: "a 4xx status code").
NOT_READY = 400


def explainer_names(model: str, methods: Iterable[str]) -> dict[str, str]:
    """Name a V2 client may call -> the method it explains with."""
    methods = list(methods)
    default = default_method(methods)
    names = {f"{model}-{method}": method for method in methods}
    return {**names, model: default, f"{model}-explainer": default}


def _method(service: Service, name: str, method: str | None) -> str:
    names = explainer_names(service.settings.model.name, service.runtime.classes)
    if name not in names:
        raise NotFoundError(
            f"no model named {shown(name)}; this service answers to {', '.join(sorted(names))}"
        )
    return method or names[name]


def _ready_answer(service: Service) -> JSONResponse:
    state = service.readiness
    body = {"ready": state.ready, "reason": state.reason}
    return JSONResponse(body, status_code=200 if state.ready else NOT_READY)


@router.get("/v2/health/live", summary="V2 liveness")
async def v2_live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/v2/health/ready",
    summary="V2 readiness",
    responses={NOT_READY: {"description": "not ready, with the reason"}},
)
async def v2_ready(service: Annotated[Service, Depends(get_service)]) -> JSONResponse:
    """200 when ready, 400 (as MLServer answers) when not; the reason as on /health/ready."""
    return _ready_answer(service)


@router.get("/v2", summary="V2 server metadata")
async def v2_server() -> dict[str, Any]:
    return {"name": "explainer-service", "version": service_version(), "extensions": []}


@router.get(
    "/v2/models/{name}/ready",
    summary="V2 model readiness",
    responses={NOT_READY: {"description": "not ready, with the reason"}},
)
async def v2_model_ready(
    name: str, service: Annotated[Service, Depends(get_service)]
) -> JSONResponse:
    _method(service, name, None)
    return _ready_answer(service)


@router.get("/v2/models/{name}", summary="V2 model metadata")
async def v2_model_metadata(
    name: str, service: Annotated[Service, Depends(get_service)]
) -> dict[str, Any]:
    """What the explainer takes (the model's features, one input each; a single ``[n, d]``
    tensor in the features' order is taken too) and what it answers."""
    method = _method(service, name, None)
    model = service.settings.model
    return {
        "name": name,
        "versions": [model.version] if model.version else [],
        "platform": "explainer-service",
        "inputs": feature_inputs(service.runtime.schema),
        "outputs": [{"name": "explanation", "datatype": "BYTES", "shape": [-1, 1]}],
        "parameters": {
            "content_type": "pd",
            "explainer_method": method,
            "explained_model": model.name,
        },
    }


def feature_inputs(schema: FeatureSchema) -> list[dict[str, Any]]:
    """One V2 input per feature, with the datatype its values travel in."""
    inputs = []
    for feature in schema.features:
        if feature.kind is FeatureKind.categorical and feature.wire is WireFormat.string:
            datatype = "BYTES"
        elif feature.kind is FeatureKind.categorical or feature.integer:
            datatype = "INT64"
        else:
            datatype = "FP64"
        inputs.append({"name": feature.name, "datatype": datatype, "shape": [-1]})
    return inputs


@router.post(
    "/v2/models/{name}/infer",
    response_model=V2Response | DryRunOut,
    summary="Explain, as MLServer's alibi-explain runtime",
)
async def v2_infer(
    name: str,
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> JSONResponse:
    """An Open Inference Protocol request (one input per feature, or one ``[n, d]``
    tensor); ``parameters.explain_parameters`` holds alibi's parameters of ``explain``
    (renamed where this service names them otherwise; those that tune alibi's own
    implementation are ignored and listed in the answer's ``parameters``). The first row
    is explained. ``dry_run=true`` answers the estimated cost (``DryRunOut``)."""
    chosen = _method(service, name, method)
    depth = service.settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, await request.body(), "the body", depth)
    if not isinstance(body, dict):
        raise PayloadError("an inference request is a JSON object with 'inputs'")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise PayloadError("'parameters' must be an object", field="parameters")
    params, ignored = from_alibi(
        chosen, parameters.get("explain_parameters"), service.runtime.class_names
    )
    params.update(method_params(request))
    records = await first_row(service, V2Codec(service.runtime.schema.names), body)
    if dry_run:
        return JSONResponse(await planned(service, chosen, records, params))
    id, explanation = await explain_row(service, chosen, records, params)
    alibi = alibi_answer(service, id, explanation, get_link(request))
    answer = {
        "model_name": name,
        "model_version": service.settings.model.version,
        "id": body["id"] if isinstance(body.get("id"), str) else context.current(),
        "parameters": {"explanation_id": id, "ignored_explain_parameters": ignored},
        "outputs": [
            {
                "name": "explanation",
                "shape": [1, 1],
                "datatype": "BYTES",
                "parameters": {"content_type": "str"},
                "data": [json.dumps(alibi)],
            }
        ],
    }
    headers = {"x-seldon-alibi-type": "explanation", "x-seldon-alibi-method": alibi_method(chosen)}
    return JSONResponse(answer, headers=headers)
