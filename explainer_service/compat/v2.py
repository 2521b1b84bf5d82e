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

from fastapi import APIRouter, Query, Request, Response

from explainer_service.api.deps import (
    DryRun,
    RuntimeDep,
    ServiceDep,
    SettingsDep,
    method_params,
    parse_json,
)
from explainer_service.api.dry_run import DryRunOut
from explainer_service.compat.alibi_params import from_alibi
from explainer_service.compat.alibi_shape import alibi_method, service_version
from explainer_service.compat.bodies import (
    V2Live,
    V2ModelMetadata,
    V2ModelParameters,
    V2Output,
    V2Ready,
    V2Response,
    V2ResponseParameters,
    V2ServerMetadata,
    V2TensorMetadata,
)
from explainer_service.compat.common import (
    ExplainingDep,
    default_method,
    explain_row,
    first_row,
    planned,
)
from explainer_service.errors import NotFoundError, PayloadError
from explainer_service.model_client.codecs import V2Codec
from explainer_service.observability import context
from explainer_service.runtime import Runtime
from explainer_service.service import Service
from explainer_service.settings import Settings
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


def _method(settings: Settings, runtime: Runtime, name: str, method: str | None) -> str:
    names = explainer_names(settings.model.name, runtime.classes)
    if name not in names:
        raise NotFoundError(
            f"no model named {shown(name)}; this service answers to {', '.join(sorted(names))}"
        )
    return method or names[name]


def _ready(service: Service, response: Response) -> V2Ready:
    state = service.readiness
    response.status_code = 200 if state.ready else NOT_READY
    return V2Ready(ready=state.ready, reason=state.reason)


#: MLServer answers a model that is not ready with the readiness body, not an error.
NOT_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    NOT_READY: {"model": V2Ready, "description": "not ready, with the reason"}
}


@router.get("/v2/health/live", summary="V2 liveness")
async def v2_live() -> V2Live:
    return V2Live(live=True)


@router.get("/v2/health/ready", summary="V2 readiness", responses=NOT_READY_RESPONSES)
async def v2_ready(service: ServiceDep, response: Response) -> V2Ready:
    """200 when ready, 400 (as MLServer answers) when not; the reason as on /health/ready."""
    return _ready(service, response)


@router.get("/v2", summary="V2 server metadata")
async def v2_server() -> V2ServerMetadata:
    return V2ServerMetadata(name="explainer-service", version=service_version(), extensions=[])


@router.get("/v2/models/{name}/ready", summary="V2 model readiness", responses=NOT_READY_RESPONSES)
async def v2_model_ready(
    name: str,
    service: ServiceDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    response: Response,
) -> V2Ready:
    _method(settings, runtime, name, None)
    return _ready(service, response)


@router.get("/v2/models/{name}", summary="V2 model metadata")
async def v2_model_metadata(
    name: str, settings: SettingsDep, runtime: RuntimeDep
) -> V2ModelMetadata:
    """What the explainer takes (the model's features, one input each; a single ``[n, d]``
    tensor in the features' order is taken too) and what it answers."""
    method = _method(settings, runtime, name, None)
    model = settings.model
    return V2ModelMetadata(
        name=name,
        versions=[model.version] if model.version else [],
        platform="explainer-service",
        inputs=feature_inputs(runtime.schema),
        outputs=[V2TensorMetadata(name="explanation", datatype="BYTES", shape=[-1, 1])],
        parameters=V2ModelParameters(
            content_type="pd", explainer_method=method, explained_model=model.name
        ),
    )


def feature_inputs(schema: FeatureSchema) -> list[V2TensorMetadata]:
    """One V2 input per feature, with the datatype its values travel in."""
    inputs = []
    for feature in schema.features:
        if feature.kind is FeatureKind.categorical and feature.wire is WireFormat.string:
            datatype = "BYTES"
        elif feature.kind is FeatureKind.categorical or feature.integer:
            datatype = "INT64"
        else:
            datatype = "FP64"
        inputs.append(V2TensorMetadata(name=feature.name, datatype=datatype, shape=[-1]))
    return inputs


@router.post("/v2/models/{name}/infer", summary="Explain, as MLServer's alibi-explain runtime")
async def v2_infer(
    name: str,
    request: Request,
    explaining: ExplainingDep,
    response: Response,
    method: Annotated[str | None, Query()] = None,
    dry_run: DryRun = False,
) -> V2Response | DryRunOut:
    """An Open Inference Protocol request (one input per feature, or one ``[n, d]``
    tensor); ``parameters.explain_parameters`` holds alibi's parameters of ``explain``
    (renamed where this service names them otherwise; those that tune alibi's own
    implementation are ignored and listed in the answer's ``parameters``). The first row
    is explained. ``dry_run=true`` answers the estimated cost (``DryRunOut``)."""
    settings, runtime = explaining.settings, explaining.runtime
    chosen = _method(settings, runtime, name, method)
    depth = settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, await request.body(), "the body", depth)
    if not isinstance(body, dict):
        raise PayloadError("an inference request is a JSON object with 'inputs'")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise PayloadError("'parameters' must be an object", field="parameters")
    params, ignored = from_alibi(chosen, parameters.get("explain_parameters"), runtime.class_names)
    params.update(method_params(request))
    records = await first_row(runtime, V2Codec(runtime.schema.names), body)
    if dry_run:
        return await planned(runtime, chosen, records, params)
    id, explanation = await explain_row(explaining.service, chosen, records, params)
    alibi = explaining.alibi(id, explanation)
    response.headers["x-seldon-alibi-type"] = "explanation"
    response.headers["x-seldon-alibi-method"] = alibi_method(chosen)
    return V2Response(
        model_name=name,
        model_version=settings.model.version,
        id=body["id"] if isinstance(body.get("id"), str) else context.current(),
        parameters=V2ResponseParameters(explanation_id=id, ignored_explain_parameters=ignored),
        outputs=[
            V2Output(
                name="explanation",
                shape=[1, 1],
                datatype="BYTES",
                parameters={"content_type": "str"},
                data=[json.dumps(alibi.model_dump(mode="json"))],
            )
        ],
    )
