"""The demo's traffic: applicants sent to the model as a client would, and each request
and answer sent to the explainer's inference log as KServe's request logger sends them
(CloudEvents in HTTP binary mode, built with the cloudevents SDK).

The log's links name the decision by its id (the logger's ``Ce-Id``): no applicant's
data is in them, unlike the payload links of ``GET /explain``.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pandas as pd
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from examples.income.train import sample_payloads

#: The attributes KServe's logger sets on both events of an inference.
KSERVE = {
    "source": "http://income-predictor.demo/",
    "inferenceservicename": "income",
    "namespace": "demo",
    "component": "predictor",
    "endpoint": "default",
    "datacontenttype": "application/json",
}
EVENT_TYPES = {
    "request": "org.kubeflow.serving.inference.request",
    "response": "org.kubeflow.serving.inference.response",
}


def predict(model_base: str, applicant: dict[str, Any]) -> tuple[bytes, bytes]:
    """Send one applicant to the model (V2); the request and the answer, as bytes."""
    body = sample_payloads(pd.DataFrame([applicant]))["v2"]
    response = httpx.post(f"{model_base}/v2/models/income/infer", json=body, timeout=30)
    response.raise_for_status()
    return response.request.content, response.content


def log(base: str, request: bytes, answer: bytes) -> str:
    """Send the two events of one inference (the ``request`` sent to the model and its
    ``answer``) to ``POST /inferences``; its id."""
    id = str(uuid.uuid4())
    for side, data in (("request", request), ("response", answer)):
        event = CloudEvent({**KSERVE, "id": id, "type": EVENT_TYPES[side]}, data)
        message = to_binary_event(event)
        response = httpx.post(
            f"{base}/inferences", content=message.body, headers=message.headers, timeout=30
        )
        response.raise_for_status()
    return id
