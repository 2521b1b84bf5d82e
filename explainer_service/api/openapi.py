"""What the OpenAPI document says of the inputs the routes read themselves.

The explain routes read their body (or the ``payload`` query parameter) as raw JSON: it is
the model's own payload, in whatever protocol is configured, so FastAPI cannot describe it.
``document(app, runtime)`` adds it to the document once the configuration is known: a
record of this model's features (a number for a numeric feature, one of its categories for
a categorical one), the envelope around a payload, the compatibility routes' bodies, the
configured methods and the model's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from explainer_service.runtime import Runtime
from explainers import FeatureSchema

SCHEMAS = "#/components/schemas/"


def value_schemas(schema: FeatureSchema) -> dict[str, dict[str, Any]]:
    """Feature -> JSON schema of its values: a number (a whole one for an integer feature),
    or one of the categories in any spelling the feature reads."""
    values: dict[str, dict[str, Any]] = {}
    for feature in schema.features:
        if feature.is_categorical:
            spellings = [*feature.categories, *feature.wire_values]
            values[feature.name] = {"enum": list(dict.fromkeys(spellings))}
        else:
            values[feature.name] = {"type": "integer" if feature.integer else "number"}
    return values


def record_schema(schema: FeatureSchema) -> dict[str, Any]:
    """JSON schema of one record, ``{feature: value}``, of ``schema``."""
    return {
        "type": "object",
        "properties": value_schemas(schema),
        "required": schema.names,
        "additionalProperties": False,
    }


def row_schema(schema: FeatureSchema) -> dict[str, Any]:
    """JSON schema of one row, its values in feature order."""
    return {
        "type": "array",
        "prefixItems": list(value_schemas(schema).values()),
        "items": False,
        "minItems": len(schema),
    }


def _components(runtime: Runtime) -> dict[str, Any]:
    protocol = runtime.settings.model.protocol
    scalar = {"type": ["string", "number", "boolean", "null"]}
    return {
        "Record": {**record_schema(runtime.schema), "title": "Record"},
        "Row": {**row_schema(runtime.schema), "title": "Row", "description": "in feature order"},
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
                    "items": {"anyOf": [{"$ref": SCHEMAS + "Record"}, {"$ref": SCHEMAS + "Row"}]},
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
                        "names": {
                            "description": "the features, in the order of the rows' values",
                            "type": "array",
                            "items": {"type": "string"},
                        },
                        "ndarray": {"type": "array", "items": {"$ref": SCHEMAS + "Row"}},
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
        "V2ExplainRequest": {
            "title": "V2ExplainRequest",
            "description": "an Open Inference Protocol request: one input per feature, or one "
            "[n, d] tensor of rows in feature order",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "properties": {
                        "explain_parameters": {
                            "type": "object",
                            "description": "alibi's parameters of explain, or the method's own",
                        }
                    },
                },
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                            "datatype": {"type": "string"},
                            "data": {"type": "array"},
                        },
                        "required": ["name", "shape", "datatype", "data"],
                    },
                },
            },
            "required": ["inputs"],
        },
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def document(app: FastAPI, runtime: Runtime, v2_names: Iterable[str] = ()) -> None:
    """Make ``app.openapi()`` describe the raw JSON inputs of the explain routes.
    ``v2_names``: the model names the Open Inference Protocol routes answer to."""
    generate = app.openapi
    methods = list(runtime.classes)
    model_name = runtime.settings.model.name
    names = sorted(v2_names)

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
        v2 = paths["/v2/models/{name}/infer"]["post"]
        v2["requestBody"] = _body(_ref("V2ExplainRequest"))
        links = paths["/links"]["get"]
        for operation in (explain["post"], explain["get"], kserve, seldon, links, v2):
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
        for operation in paths.get("/inferences/{id}/explain", {}).values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "method":  # a logged inference: one row
                    default = parameter["schema"].get("default")
                    parameter["schema"] = {"type": "string", "enum": runtime.local_methods}
                    if default in runtime.local_methods:
                        parameter["schema"]["default"] = default
        for path in ("/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/infer"):
            for operation in paths[path].values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "name":
                        parameter["schema"] = {"type": "string", "enum": names}
        return document

    app.openapi = openapi  # type: ignore[method-assign]
