"""A model over the income features that is a known formula: a regression, or a classifier
that answers labels, in the Open Inference Protocol (v2, one ``[n, 12]`` tensor).

    python -m tests.helpers.servers.formula_model --port N --output regression
    python -m tests.helpers.servers.formula_model --port N --output labels --classes 2,3,10

- ``POST /v2/models/formula/infer``: ``{"inputs": [{"shape": [n, 12], "data"}]}`` ->
  ``{"outputs": [{"name": "predict", "shape": [n], "datatype", "data"}]}``. A regression
  answers ``value`` (``tests.helpers.ground_truth.additive_regression``, FP64); a
  classifier the label of the band ``value`` falls in: the reference rows' values cut into
  as many equal shares as there are classes, the lowest share the first class. Labels that
  are whole numbers are answered as numbers (INT64), as a scikit-learn model of numeric
  classes answers them; others as text (BYTES).
- ``GET /healthz``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from examples.income import paths
from tests.helpers.ground_truth import additive_regression

NAME = "formula"
PATH = f"/v2/models/{NAME}/infer"


@cache
def _cuts(classes: int) -> np.ndarray:
    """The values that cut the reference rows into ``classes`` equal shares."""
    rows = pd.read_csv(paths.REFERENCE)[paths.FEATURES].values.tolist()
    values = additive_regression(rows)
    return np.quantile(values, np.arange(1, classes) / classes)


def labels(rows: list[list[Any]], classes: Sequence[str]) -> list[str]:
    """The class of each row (wire values in ``paths.FEATURES`` order)."""
    bands = np.searchsorted(_cuts(len(classes)), additive_regression(rows), side="right")
    return [classes[band] for band in bands]


def answer(rows: list[list[Any]], output: str, classes: Sequence[str]) -> dict[str, Any]:
    """The v2 output tensor for ``rows``."""
    if output == "regression":
        values: list[Any] = additive_regression(rows).tolist()
        datatype = "FP64"
    else:
        values = labels(rows, classes)
        numeric = all(c.lstrip("-").isdigit() for c in classes)
        values, datatype = ([int(v) for v in values], "INT64") if numeric else (values, "BYTES")
    return {"name": "predict", "shape": [len(rows)], "datatype": datatype, "data": values}


def _rows(body: Any) -> list[list[Any]]:
    tensor = body["inputs"][0]
    n, d = tensor["shape"]
    if d != len(paths.FEATURES):
        raise ValueError(f"expected {len(paths.FEATURES)} features, got {d}")
    flat = tensor["data"]
    return [flat[i * d : (i + 1) * d] for i in range(n)]


def create_app(output: str, classes: Sequence[str]) -> FastAPI:
    app = FastAPI(title="formula model")

    @app.post(PATH)
    async def infer(request: Request) -> JSONResponse:
        try:
            answered = answer(_rows(await request.json()), output, classes)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        return JSONResponse({"model_name": NAME, "outputs": [answered]})

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--output", choices=["regression", "labels"], default="regression")
    parser.add_argument("--classes", default="0,1", help="comma-separated, lowest band first")
    args = parser.parse_args()
    app = create_app(args.output, args.classes.split(","))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
