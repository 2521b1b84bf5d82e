"""The income model served as a remote model, in five protocols at their standard paths.

    python -m examples.income.model_server [--port 9000] [--host 127.0.0.1] [--output labels]

- Open Inference (v2): ``POST /v2/models/income/infer``, ``{"inputs"}`` -> ``{"outputs"}``
  (one ``[n, 12]`` tensor or one input per feature), plus ``GET /v2/models/income`` and
  ``GET /v2/health/ready``;
- Seldon v1: ``POST /api/v1.0/predictions``, ``{"data": {"names", "ndarray"}}``;
- KServe v1: ``POST /v1/models/income:predict``, ``{"instances"}`` -> ``{"predictions"}``;
- MLflow: ``POST /invocations``, ``dataframe_split`` or ``dataframe_records``;
- records: ``POST /predict``, ``[{feature: value}]`` -> ``{"predictions"}``.

Answers are class probabilities ``[P(<=50K), P(>50K)]`` per row (``--output labels``: the
class label). ``GET /stats`` reports how many predict requests and rows were served, and
which request headers were seen, so tests can check what an explainer sent. This module
stands in for a third-party server: it parses every protocol itself.
"""

from __future__ import annotations

import argparse
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from examples.income import paths

MODEL_NAME = "income"


class BadRequest(Exception):
    pass


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [v for item in data for v in _flatten(item)]
    return [data]


def _v2_frame(body: dict[str, Any]) -> pd.DataFrame:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'inputs' must be a non-empty array")
    by_name = {i.get("name"): i for i in inputs if isinstance(i, dict)}
    if set(paths.FEATURES) <= set(by_name):  # one input per feature
        return pd.DataFrame({f: _flatten(by_name[f]["data"]) for f in paths.FEATURES})
    if len(inputs) != 1:
        raise BadRequest("expected one [n, 12] input or one input per feature")
    shape, data = inputs[0].get("shape"), _flatten(inputs[0].get("data"))
    if not isinstance(shape, list) or len(shape) != 2 or shape[1] != len(paths.FEATURES):
        raise BadRequest(f"input shape must be [n, {len(paths.FEATURES)}], got {shape}")
    return pd.DataFrame(np.array(data, dtype=object).reshape(shape), columns=paths.FEATURES)


def _frame_from_body(protocol: str, body: Any) -> pd.DataFrame:
    if protocol == "v2":
        return _v2_frame(body)
    if protocol == "seldon":
        data = body["data"]
        return pd.DataFrame(data["ndarray"], columns=data.get("names") or paths.FEATURES)
    if protocol == "kserve-v1":
        instances = body["instances"]
        if instances and isinstance(instances[0], dict):
            return pd.DataFrame.from_records(instances)
        return pd.DataFrame(instances, columns=paths.FEATURES)
    if protocol == "mlflow":
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            return pd.DataFrame(split["data"], columns=split["columns"])
        return pd.DataFrame.from_records(body["dataframe_records"])
    records = body if isinstance(body, list) else body.get("instances", [body])
    return pd.DataFrame.from_records(records)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [f for f in paths.FEATURES if f not in frame.columns]
    if missing:
        raise BadRequest(f"missing features: {missing}")
    frame = frame[paths.FEATURES].copy()
    for name in paths.NUMERIC:
        frame[name] = pd.to_numeric(frame[name], errors="raise")
    for name in paths.CATEGORICAL:
        frame[name] = frame[name].astype(str)
    return frame


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.rows = 0
        self.headers: Counter[str] = Counter()

    def record(self, request: Request, rows: int) -> None:
        with self.lock:
            self.requests += 1
            self.rows += rows
            for key, value in request.headers.items():
                if key.lower() not in {"content-length", "host"}:
                    self.headers[f"{key.lower()}: {value}"] += 1


def create_app(model_path: Path = paths.MODEL, output: str = "probabilities") -> FastAPI:
    pipeline = joblib.load(model_path)
    classes = [str(c) for c in pipeline.classes_]
    stats = Stats()
    app = FastAPI(title="income model")

    def predict(protocol: str, body: Any) -> np.ndarray:
        try:
            frame = _typed(_frame_from_body(protocol, body))
        except (BadRequest, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HTTPException(
                400, f"bad {protocol} request: {type(exc).__name__}: {exc}"
            ) from None
        if output == "labels":
            return np.asarray(pipeline.predict(frame)).astype(str)
        return np.asarray(pipeline.predict_proba(frame))

    async def served(request: Request, protocol: str) -> tuple[np.ndarray, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        scores = await run_in_threadpool(predict, protocol, body)
        stats.record(request, len(scores))
        return scores, body

    @app.post(f"/v2/models/{MODEL_NAME}/infer")
    @app.post(f"/v2/models/{MODEL_NAME}/versions/{{version}}/infer")
    async def v2_infer(request: Request) -> dict[str, Any]:
        scores, body = await served(request, "v2")
        requested = [o.get("name") for o in body.get("outputs") or [] if isinstance(o, dict)]
        name = requested[0] if requested else ("predict" if output == "labels" else "predict_proba")
        return {
            "model_name": MODEL_NAME,
            "model_version": "1",
            "id": body.get("id"),
            "outputs": [
                {
                    "name": name,
                    "shape": list(scores.shape),
                    "datatype": "BYTES" if output == "labels" else "FP64",
                    "data": scores.ravel().tolist(),
                }
            ],
        }

    @app.get(f"/v2/models/{MODEL_NAME}")
    def v2_metadata() -> dict[str, Any]:
        return {
            "name": MODEL_NAME,
            "versions": ["1"],
            "platform": "sklearn",
            "inputs": [
                {
                    "name": f,
                    "datatype": "BYTES" if f in paths.CATEGORICAL else "INT64",
                    "shape": [-1],
                }
                for f in paths.FEATURES
            ],
            "outputs": [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]}],
        }

    @app.get("/v2/health/ready")
    @app.get("/v2/health/live")
    @app.get(f"/v2/models/{MODEL_NAME}/ready")
    def v2_ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/api/v1.0/predictions")
    async def seldon_predict(request: Request) -> dict[str, Any]:
        scores, _ = await served(request, "seldon")
        names = [] if output == "labels" else classes
        return {"data": {"names": names, "ndarray": scores.tolist()}, "meta": {}}

    @app.post(f"/v1/models/{MODEL_NAME}:predict")
    async def kserve_predict(request: Request) -> dict[str, Any]:
        scores, _ = await served(request, "kserve-v1")
        return {"predictions": scores.tolist()}

    @app.post("/invocations")
    async def mlflow_invocations(request: Request) -> dict[str, Any]:
        scores, _ = await served(request, "mlflow")
        return {"predictions": scores.tolist()}

    @app.post("/predict")
    async def records_predict(request: Request) -> dict[str, Any]:
        scores, _ = await served(request, "records")
        return {"predictions": scores.tolist()}

    @app.get("/stats")
    def get_stats() -> dict[str, Any]:
        with stats.lock:
            return {"requests": stats.requests, "rows": stats.rows, "headers": dict(stats.headers)}

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the income model in five protocols.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--model", type=Path, default=paths.MODEL)
    parser.add_argument("--output", choices=["probabilities", "labels"], default="probabilities")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model} is missing: run `python -m examples.income.train` first")
    uvicorn.run(
        create_app(args.model, args.output), host=args.host, port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
