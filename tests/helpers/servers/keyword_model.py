"""A text model whose truth is known: it flags a message iff the message holds one of
``FLAGGING`` (as a word, any case) that is not right after a word of ``NEGATIONS``.

    python -m tests.helpers.servers.keyword_model --port N

It answers the probabilities ``[other, flagged]`` (1 and 0) in four protocols, reading
each protocol's form for strings as the peers send them (not the service's codecs):

- ``POST /v2/models/keywords/infer``: one ``BYTES`` input, shape ``[n]`` or ``[n, 1]``
  (MLServer's ``StringCodec``) -> ``{"outputs": [{"name": "predict_proba", "shape": [n, 2]}]}``;
- ``POST /v1/models/keywords:predict``: ``{"instances": ["text", ...]}`` -> ``{"predictions"}``;
- ``POST /api/v1.0/predictions``: ``{"data": {"ndarray": ["text", ...]}}`` or
  ``{"data": {"strData": "text"}}`` -> ``{"data": {"ndarray": [[p, q], ...]}}``;
- ``POST /invocations``: ``{"dataframe_split": {"columns": ["message"], "data": [[text]]}}``
  or ``{"dataframe_records": [{"message": text}]}`` -> ``{"predictions"}``;
- ``GET /healthz``; ``GET /rows``: rows scored so far (what explanations sent).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request

NAME = "keywords"
FLAGGING = ("refund", "scam")
NEGATIONS = ("not", "no", "never")
_WORD = re.compile(r"\w+")
_rows = [0]


def flagged(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    return any(
        word in FLAGGING and (i == 0 or words[i - 1] not in NEGATIONS)
        for i, word in enumerate(words)
    )


def proba(texts: list[str]) -> list[list[float]]:
    _rows[0] += len(texts)
    return [[0.0, 1.0] if flagged(t) else [1.0, 0.0] for t in texts]


def _texts(values: Any) -> list[str]:
    if not isinstance(values, list):
        raise HTTPException(400, "expected an array of texts")
    texts = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]
    if not all(isinstance(t, str) for t in texts):
        raise HTTPException(400, "expected texts")
    return texts


app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/rows")
def rows() -> dict[str, int]:
    return {"rows": _rows[0]}


@app.post(f"/v2/models/{NAME}/infer")
async def v2(request: Request) -> dict[str, Any]:
    body = await request.json()
    tensor = body["inputs"][0]
    if tensor.get("datatype") != "BYTES":
        raise HTTPException(400, "expected a BYTES input")
    texts = _texts(tensor["data"])
    if tensor["shape"] not in ([len(texts)], [len(texts), 1]):
        raise HTTPException(400, "shape does not fit the data")
    scores = proba(texts)
    flat = [p for row in scores for p in row]
    output = {"name": "predict_proba", "shape": [len(texts), 2], "datatype": "FP64", "data": flat}
    return {"model_name": NAME, "outputs": [output]}


@app.post(f"/v1/models/{NAME}:predict")
async def kserve_v1(request: Request) -> dict[str, Any]:
    return {"predictions": proba(_texts((await request.json())["instances"]))}


@app.post("/api/v1.0/predictions")
async def seldon(request: Request) -> dict[str, Any]:
    data = (await request.json())["data"]
    texts = [data["strData"]] if "strData" in data else _texts(data["ndarray"])
    return {"data": {"names": ["other", "flagged"], "ndarray": proba(texts)}, "meta": {}}


@app.post("/invocations")
async def mlflow(request: Request) -> dict[str, Any]:
    body = await request.json()
    if "dataframe_records" in body:
        texts = [record["message"] for record in body["dataframe_records"]]
    else:
        split = body["dataframe_split"]
        column = split["columns"].index("message")
        texts = [row[column] for row in split["data"]]
    return {"predictions": proba(_texts(texts))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
