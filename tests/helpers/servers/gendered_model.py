"""Two classifiers over the income features, in the Open Inference Protocol (v2, one
``[n, 12]`` tensor), counting what each serves: one that uses ``gender`` directly, by a
rule the tests know and the explainer does not, and one that ignores every protected
attribute.

    python -m tests.helpers.servers.gendered_model --port N

- ``POST /v2/models/gendered/infer``: positive iff (gender is Male and education-num >= 13)
  or capital-gain > 5000 (``gendered``);
- ``POST /v2/models/blind/infer``: positive iff education-num >= 13 or capital-gain > 5000
  (``tests.helpers.ground_truth.threshold_classifier``): no protected attribute counts;
- each answers ``{"outputs": [{"name": "predict_proba", "shape": [n, 2], "datatype":
  "FP64"}]}``, the probabilities [P(<=50K), P(>50K)] (0 or 1);
- ``GET /stats``: ``{model: {"requests", "rows"}}`` served by each infer route so far;
- ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from examples.income import paths
from tests.helpers.ground_truth import column, threshold_classifier

GENDERED, BLIND = "gendered", "blind"


def path(model: str) -> str:
    return f"/v2/models/{model}/infer"


def gendered(rows: list[list[Any]]) -> np.ndarray:
    """Positive iff (gender is Male and education-num >= 13) or capital-gain > 5000."""
    male = column(rows, "gender") == "Male"
    education = column(rows, "education-num").astype(float)
    gain = column(rows, "capital-gain").astype(float)
    positive = ((male & (education >= 13)) | (gain > 5000)).astype(float)
    return np.column_stack([1 - positive, positive])


def gender_decides(record: dict[str, Any]) -> bool:
    """Whether changing the gender alone of ``record`` changes the gendered model's class:
    the rule's gender clause decides exactly when education-num >= 13 and the capital gain
    does not decide on its own."""
    return float(record["education-num"]) >= 13 and float(record["capital-gain"]) <= 5000


MODELS: dict[str, Callable[[list[list[Any]]], np.ndarray]] = {
    GENDERED: gendered,
    BLIND: threshold_classifier,
}


def _rows(body: Any) -> list[list[Any]]:
    tensor = body["inputs"][0]
    n, d = tensor["shape"]
    if d != len(paths.FEATURES):
        raise ValueError(f"expected {len(paths.FEATURES)} features, got {d}")
    flat = tensor["data"]
    return [flat[i * d : (i + 1) * d] for i in range(n)]


def create_app() -> FastAPI:
    app = FastAPI(title="gendered model")
    lock = threading.Lock()
    served = {name: {"requests": 0, "rows": 0} for name in MODELS}

    def route(name: str) -> None:
        predict = MODELS[name]

        @app.post(path(name))
        async def infer(request: Request) -> JSONResponse:
            try:
                rows = _rows(await request.json())
                scores = predict(rows)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
            with lock:
                served[name]["requests"] += 1
                served[name]["rows"] += len(rows)
            output = {
                "name": "predict_proba",
                "shape": list(scores.shape),
                "datatype": "FP64",
                "data": scores.ravel().tolist(),
            }
            return JSONResponse({"model_name": name, "outputs": [output]})

    for name in MODELS:
        route(name)

    @app.get("/stats")
    def stats() -> dict[str, dict[str, int]]:
        with lock:
            return {name: dict(counts) for name, counts in served.items()}

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
