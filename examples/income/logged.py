"""The demo's traffic: applicants sent to the model as a client would, and each request
and answer sent to the explainer's inference log as KServe's request logger sends them
(CloudEvents in HTTP binary mode, built with the cloudevents SDK).

The log's links name the decision by its id (the logger's ``Ce-Id``): no applicant's
data is in them, unlike the payload links of ``GET /explain``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import numpy as np
import pandas as pd
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from examples.income import paths
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


def log(base: str, applicant: dict[str, Any], request: bytes, answer: bytes) -> str:
    """Send the two events of one inference (``applicant`` sent as ``request``, the
    model's ``answer``) to ``POST /inferences``; its id."""
    id = str(uuid.uuid4())
    for side, data in (("request", request), ("response", answer)):
        event = CloudEvent({**KSERVE, "id": id, "type": EVENT_TYPES[side]}, data)
        message = to_binary_event(event)
        response = httpx.post(
            f"{base}/inferences", content=message.body, headers=message.headers, timeout=30
        )
        if response.status_code in (404, 405):  # a service without the sink
            _into_store(id, applicant, answer)
            return id
        response.raise_for_status()
    return id


def _into_store(id: str, applicant: dict[str, Any], answer: bytes) -> None:
    """Write the inference into the service's store as its sink would (for a build of the
    service without ``POST /inferences``)."""
    from explainer_service.settings import load_settings
    from explainer_service.store import open_configured_store
    from explainer_service.store.inferences import LoggedSide

    settings = load_settings(paths.HERE / "explainer.yaml")
    scores = [float(p) for p in json.loads(answer)["outputs"][0]["data"]]
    best = int(np.argmax(scores))
    common: dict[str, Any] = {"id": id, "event_id": id, "row_index": 0, "row_count": 1,
                              "source": "kserve", "model": "income", "protocol": "v2",
                              "endpoint": "default", "component": "predictor"}  # fmt: skip
    store = open_configured_store(settings.service)
    try:
        store.log_inferences([
            LoggedSide(**common, side="request", instance=[applicant[f] for f in paths.FEATURES]),
            LoggedSide(**common, side="response", answer={"scores": scores},
                       label=paths.CLASS_NAMES[best], score=scores[best]),
        ])  # fmt: skip
    finally:
        store.close()
