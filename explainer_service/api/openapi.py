"""What the OpenAPI document says of the inputs the routes read themselves.

The explain routes read their body (or the ``payload`` query parameter) as raw JSON: it is
the model's own payload, in whatever protocol is configured, so FastAPI cannot describe it.
``document(app, runtime)`` adds it to the document once the configuration is known: a
record of this model's features (a number for a numeric feature, one of its categories for
a categorical one), the envelope around a payload, the compatibility routes' bodies, the
configured methods and the model's name.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from explainer_service.runtime import Runtime
from explainers import FeatureSchema

SCHEMAS = "#/components/schemas/"


def record_schema(schema: FeatureSchema) -> dict[str, Any]:
    """JSON schema of one record, ``{feature: value}``, of ``schema``."""
    properties: dict[str, Any] = {}
    for feature in schema.features:
        if feature.is_categorical:
            spellings = [*feature.categories, *feature.wire_values]
            properties[feature.name] = {"enum": list(dict.fromkeys(spellings))}
        else:
            properties[feature.name] = {"type": "integer" if feature.integer else "number"}
    return {
        "type": "object",
        "properties": properties,
        "required": schema.names,
        "additionalProperties": False,
    }


def _components(runtime: Runtime) -> dict[str, Any]:
    protocol = runtime.settings.model.protocol
    scalar = {"type": ["string", "number", "boolean", "null"]}
    return {
        "Record": {**record_schema(runtime.schema), "title": "Record"},
        "Records": {
            "title": "Records",
            "description": "rows as {feature: value}, accepted whatever the protocol",
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": {"$ref": SCHEMAS + "Record"},
                    "minItems": 1,
                }
            },
            "required": ["instances"],
        },
        "Payload": {
            "title": "Payload",
            "description": f"the inference payload as it was sent to the model ({protocol}), "
            "or Records",
            "anyOf": [{"$ref": SCHEMAS + "Records"}, {}],
        },
        "Envelope": {
            "title": "Envelope",
            "description": "a payload with the method's parameters and the row to explain",
            "type": "object",
            "properties": {
                "payload": {"$ref": SCHEMAS + "Payload"},
                "parameters": {"type": "object", "description": "the method's parameters"},
                "instance": {"anyOf": [{"type": "integer", "minimum": 0}, {"const": "all"}]},
            },
            "required": ["payload"],
            "additionalProperties": False,
        },
        "KServeExplainRequest": {
            "title": "KServeExplainRequest",
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [
                            {"$ref": SCHEMAS + "Record"},
                            {"type": "array", "items": scalar, "description": "in feature order"},
                        ]
                    },
                }
            },
            "required": ["instances"],
        },
        "SeldonExplainRequest": {
            "title": "SeldonExplainRequest",
            "type": "object",
            "properties": {
                "data": {
                    "type": "object",
                    "properties": {
                        "names": {"type": "array", "items": {"type": "string"}},
                        "ndarray": {"type": "array", "items": {"type": "array", "items": scalar}},
                        "tensor": {
                            "type": "object",
                            "properties": {
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "values": {"type": "array", "items": scalar},
                            },
                            "required": ["shape", "values"],
                        },
                    },
                }
            },
            "required": ["data"],
        },
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def document(app: FastAPI, runtime: Runtime) -> None:
    """Make ``app.openapi()`` describe the raw JSON inputs of the explain routes."""
    generate = app.openapi
    methods = list(runtime.classes)
    model_name = runtime.settings.model.name

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(_components(runtime))
        paths = document["paths"]
        explain = paths["/explain"]
        explain["post"]["requestBody"] = _body(
            {"anyOf": [_ref("Records"), _ref("Envelope"), _ref("Payload")]},
            required=False,  # a global method (importance) needs none
        )
        kserve = paths["/v1/models/{name}:explain"]["post"]
        kserve["requestBody"] = _body(_ref("KServeExplainRequest"))
        seldon = paths["/api/v1.0/explain"]["post"]
        seldon["requestBody"] = _body(_ref("SeldonExplainRequest"))
        for operation in (explain["post"], explain["get"], kserve, seldon):
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "method":
                    default = parameter["schema"].get("default")
                    parameter["schema"] = {"type": "string", "enum": methods}
                    if default in methods:
                        parameter["schema"]["default"] = default
                elif parameter["name"] == "payload":
                    del parameter["schema"]
                    parameter["content"] = {"application/json": {"schema": _ref("Payload")}}
                elif parameter["name"] == "name" and parameter["in"] == "path":
                    parameter["schema"] = {"type": "string", "enum": [model_name]}
        return document

    app.openapi = openapi  # type: ignore[method-assign]
