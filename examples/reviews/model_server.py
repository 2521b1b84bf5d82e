"""The reviews model served as a remote model in the Open Inference Protocol, taking text as
MLServer's ``StringCodec`` sends it.

    python -m examples.reviews.model_server [--port 9100] [--host 127.0.0.1]

- ``POST /v2/models/reviews/infer``: one ``BYTES`` input of shape ``[n]`` or ``[n, 1]`` ->
  ``{"outputs": [{"name": "predict_proba", "shape": [n, 2], "datatype": "FP64"}]}``
  (``[P(great), P(other)]``);
- ``GET /v2/health/ready``; ``GET /stats``: predict requests and rows served.
"""

from __future__ import annotations

import argparse
from typing import Any

import joblib
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from examples.reviews import paths

NAME = "reviews"


def build_app() -> FastAPI:
    model = joblib.load(paths.MODEL)
    served = {"requests": 0, "rows": 0}
    app = FastAPI()

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return served

    @app.post(f"/v2/models/{NAME}/infer")
    async def infer(request: Request) -> dict[str, Any]:
        body = await request.json()
        try:
            (tensor,) = body["inputs"]
            texts = [v[0] if isinstance(v, list) else v for v in tensor["data"]]
            assert tensor["datatype"] == "BYTES" and all(isinstance(t, str) for t in texts)
            assert tensor["shape"] in ([len(texts)], [len(texts), 1])
        except (KeyError, TypeError, ValueError, AssertionError):
            raise HTTPException(400, "expected one BYTES input of texts") from None
        scores = await run_in_threadpool(model.predict_proba, texts)
        served["requests"] += 1
        served["rows"] += len(texts)
        output = {
            "name": "predict_proba",
            "shape": list(scores.shape),
            "datatype": "FP64",
            "data": scores.ravel().tolist(),
        }
        return {"model_name": NAME, "outputs": [output]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
