"""Models over the income features whose minimal changes are known, in the Open Inference
Protocol (v2, one ``[n, 12]`` tensor), all served by one process.

    python -m tests.helpers.servers.minimal_model --port N

- ``POST /v2/models/{name}/infer`` for each name of ``MODELS``: probabilities (FP64
  ``[n, 2]``, [no, yes]), a regression's values (FP64 ``[n]``) or labels (INT64 ``[n]``).
- ``GET /stats``: requests and rows served, per model; ``GET /healthz``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.helpers.ground_truth import column

Rows = list[list[Any]]


def _yes(positive: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - positive, positive]).astype(float)


def hours(rows: Rows) -> np.ndarray:
    """Yes iff hours-per-week >= 44: one feature, one threshold."""
    return _yes(column(rows, "hours-per-week").astype(float) >= 44)


def both(rows: Rows) -> np.ndarray:
    """Yes iff hours-per-week >= 45 and capital-gain >= 3000: two features, both needed."""
    return _yes(
        (column(rows, "hours-per-week").astype(float) >= 45)
        & (column(rows, "capital-gain").astype(float) >= 3000)
    )


def few(rows: Rows) -> np.ndarray:
    """Yes iff hours-per-week >= 52, or capital-gain > 4250, or an Exec-managerial working
    48 hours or more: three features read, the others ignored."""
    week = column(rows, "hours-per-week").astype(float)
    gain = column(rows, "capital-gain").astype(float)
    executive = column(rows, "occupation") == "Exec-managerial"
    return _yes((week >= 52) | (gain > 4250) | (executive & (week >= 48)))


def unknown(rows: Rows) -> np.ndarray:
    """Yes iff workclass is "?" or hours-per-week >= 60: the nearest change is one nobody can
    make when "?" means unknown."""
    week = column(rows, "hours-per-week").astype(float)
    return _yes((column(rows, "workclass") == "?") | (week >= 60))


def regression(rows: Rows) -> np.ndarray:
    """2 * age + 2 * hours-per-week + 41 (199 at 39 and 40)."""
    return np.asarray(
        2 * column(rows, "age").astype(float)
        + 2 * column(rows, "hours-per-week").astype(float)
        + 41
    )


CLASSES = ["2", "3", "10"]


def bands(rows: Rows) -> np.ndarray:
    """Label 2 under 35 hours a week, 3 under 45, else 10."""
    week = column(rows, "hours-per-week").astype(float)
    return np.where(week < 35, 2, np.where(week < 45, 3, 10))


#: name -> (model, the service's model.output)
MODELS: dict[str, tuple[Callable[[Rows], np.ndarray], str]] = {
    "hours": (hours, "probabilities"),
    "both": (both, "probabilities"),
    "few": (few, "probabilities"),
    "unknown": (unknown, "probabilities"),
    "regression": (regression, "regression"),
    "bands": (bands, "labels"),
}


def _rows(body: Any) -> Rows:
    tensor = body["inputs"][0]
    n, d = tensor["shape"]
    flat = tensor["data"]
    return [flat[i * d : (i + 1) * d] for i in range(n)]


def create_app() -> FastAPI:
    app = FastAPI(title="minimal-change models")
    stats = {name: {"requests": 0, "rows": 0} for name in MODELS}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> JSONResponse:
        if name not in MODELS:
            return JSONResponse({"error": f"no model {name}"}, status_code=404)
        try:
            rows = _rows(await request.json())
            scores = MODELS[name][0](rows)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        stats[name]["requests"] += 1
        stats[name]["rows"] += len(rows)
        datatype = "INT64" if scores.dtype.kind == "i" else "FP64"
        output = {
            "name": "predict",
            "shape": list(scores.shape),
            "datatype": datatype,
            "data": scores.reshape(-1).tolist(),
        }
        return JSONResponse({"model_name": name, "outputs": [output]})

    @app.get("/stats")
    def read_stats() -> dict[str, dict[str, int]]:
        return stats

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
