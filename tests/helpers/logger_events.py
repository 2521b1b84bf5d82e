"""Request loggers' CloudEvents as KServe's agent and Seldon Core v1's executor send them,
built with the ``cloudevents`` SDK: an event factory per logger, and the HTTP message of an
event in binary or structured mode."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any, Literal

from cloudevents.core.bindings.http import HTTPMessage, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

Side = Literal["request", "response"]
Mode = Literal["binary", "structured"]


def kserve_event(
    side: Side | str,
    data: Any,
    id: str,
    *,
    model: str = "income",
    component: str = "predictor",
    metadata: dict[str, list[str]] | None = None,
    **attributes: Any,
) -> CloudEvent:
    """An event of KServe's agent (``pkg/logger/worker.go``): ``id`` is the join key."""
    values = {
        "type": f"org.kubeflow.serving.inference.{side}",
        "source": "http://localhost:9081/",
        "id": id,
        "inferenceservicename": model,
        "namespace": "default",
        "component": component,
        "endpoint": "default",
        "metadata": json.dumps(metadata or {}),
        "datacontenttype": "application/json",
        **attributes,
    }
    return CloudEvent(values, data)


def seldon_event(
    side: Side | Literal["feedback"],
    data: Any,
    request_id: str,
    *,
    model_id: str = "income",
    deployment: str = "income-sdep",
    **attributes: Any,
) -> CloudEvent:
    """An event of Seldon Core v1's executor (``executor/logger/worker.go``): a fresh ``id``
    each, ``requestid`` the join key."""
    kind = "feedback" if side == "feedback" else f"inference.{side}"
    values = {
        "type": f"io.seldon.serving.{kind}",
        "source": "http://income-default:8000/",
        "id": str(uuid.uuid4()),
        "requestid": request_id,
        "modelid": model_id,
        "inferenceservicename": deployment,
        "namespace": "default",
        "endpoint": "default",
        "protocol": "seldon",
        "datacontenttype": "application/json",
        **attributes,
    }
    return CloudEvent(values, data)


def message(event: CloudEvent, mode: Mode = "binary", *, gzipped: bool = False) -> HTTPMessage:
    """The HTTP request of ``event``; ``gzipped``: its body gzipped, with no
    ``Content-Encoding`` (as Knative may pass it on)."""
    made = to_binary_event(event) if mode == "binary" else to_structured_event(event)
    if not gzipped:
        return made
    return HTTPMessage(dict(made.headers), gzip.compress(made.body))


def v2_request(rows: list[list[Any]]) -> dict[str, Any]:
    """An Open Inference Protocol request of ``rows`` (tensor layout)."""
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), len(rows[0])],
                "datatype": "BYTES",
                "data": [value for row in rows for value in row],
            }
        ]
    }


def v2_response(scores: list[list[float]]) -> dict[str, Any]:
    """An Open Inference Protocol answer of class probabilities."""
    return {
        "model_name": "income",
        "outputs": [
            {
                "name": "predict_proba",
                "shape": [len(scores), len(scores[0])],
                "datatype": "FP64",
                "data": [p for row in scores for p in row],
            }
        ],
    }


def seldon_request(names: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"data": {"names": names, "ndarray": rows}}


def seldon_response(scores: list[list[float]]) -> dict[str, Any]:
    return {"data": {"names": ["t:0", "t:1"], "ndarray": scores}, "meta": {}}
