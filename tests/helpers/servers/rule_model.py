"""A classifier over the income features that is a known rule, in the Open Inference Protocol
(v2, one ``[n, 12]`` tensor), counting what it serves.

    python -m tests.helpers.servers.rule_model --port N

- ``POST /v2/models/rule/infer``: ``{"inputs": [{"shape": [n, 12], "data"}]}`` ->
  ``{"outputs": [{"name": "predict_proba", "shape": [n, 2], "datatype": "FP64"}]}``, the
  probabilities of ``tests.helpers.ground_truth.threshold_classifier`` (positive iff
  education-num >= 13 or capital-gain > 5000);
- ``--zero FEATURE`` (repeatable): that feature is set to 0 before the rule is applied, so
  the model ignores it (a second version that differs in one known way);
- ``GET /stats``: ``{"requests", "rows"}`` served by the infer route so far;
- ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from examples.income import paths
from tests.helpers.ground_truth import threshold_classifier

NAME = "rule"
PATH = f"/v2/models/{NAME}/infer"


def _rows(body: Any) -> list[list[Any]]:
    tensor = body["inputs"][0]
    n, d = tensor["shape"]
    if d != len(paths.FEATURES):
        raise ValueError(f"expected {len(paths.FEATURES)} features, got {d}")
    flat = tensor["data"]
    return [flat[i * d : (i + 1) * d] for i in range(n)]


def create_app(zero: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI(title="rule model")
    ignored = [paths.FEATURES.index(name) for name in zero]
    lock = threading.Lock()
    served = {"requests": 0, "rows": 0}

    @app.post(PATH)
    async def infer(request: Request) -> JSONResponse:
        try:
            rows = _rows(await request.json())
            for row in rows:
                for i in ignored:
                    row[i] = 0
            scores = threshold_classifier(rows)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        with lock:
            served["requests"] += 1
            served["rows"] += len(rows)
        output = {
            "name": "predict_proba",
            "shape": list(scores.shape),
            "datatype": "FP64",
            "data": scores.ravel().tolist(),
        }
        return JSONResponse({"model_name": NAME, "outputs": [output]})

    @app.get("/stats")
    def stats() -> dict[str, int]:
        with lock:
            return dict(served)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zero", action="append", default=[], choices=paths.FEATURES)
    args = parser.parse_args()
    uvicorn.run(create_app(tuple(args.zero)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
