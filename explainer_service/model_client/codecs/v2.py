"""Open Inference Protocol (KServe v2, MLServer, Triton): ``POST /v2/models/{m}/infer``.

Two request layouts:

- ``tensor``: one input of shape ``[n, d]``, values row-major (mixed types are sent as JSON
  values with datatype ``BYTES``);
- ``columnar``: one input per feature, shape ``[n]``, with ``parameters.content_type = "pd"``
  so that MLServer's pandas codec rebuilds a DataFrame with the feature names as columns;
  string columns carry ``content_type = "str"`` so they arrive as ``str``, not ``bytes``.

Answers are ``{"outputs": [{"name", "shape", "datatype", "data"}]}``; the configured output
(e.g. ``predict_proba``) or else the first one is read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import (
    JSON,
    Codec,
    Rows,
    normalise_rows,
    reorder,
    require,
)
from explainer_service.settings import V2Options


def datatype_of(values: Sequence[Any]) -> str:
    """The narrowest OIP datatype that holds every value (None ignored)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"


def flatten(data: Any, field: str) -> list[Any]:
    """Row-major flattening of a (possibly nested) JSON array of scalars."""
    if not isinstance(data, list):
        raise CodecError(f"{field!r} must be an array", field=field)
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if isinstance(item, dict):
                raise CodecError(f"{field!r} holds an object, expected scalars", field=field)
            flat.append(item)
        else:
            stack.pop()
    return flat


def _shape(tensor: dict[str, Any], field: str) -> list[int]:
    shape: list[int] = require(tensor, "shape", list, field)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise CodecError(
            f"'{field}.shape' must be a list of non-negative integers", field=f"{field}.shape"
        )
    return shape


class V2Codec(Codec):
    protocol = "v2"

    def __init__(self, names: Sequence[str], options: V2Options | None = None) -> None:
        super().__init__(names)
        self.options = options or V2Options()

    # --- requests -----------------------------------------------------------------------

    def encode_request(self, rows: Rows) -> JSON:
        n, d = len(rows), len(self.names)
        body: dict[str, Any]
        if self.options.input_layout == "columnar":
            inputs = []
            for j, name in enumerate(self.names):
                column = [row[j] for row in rows]
                tensor: dict[str, Any] = {
                    "name": name,
                    "shape": [n],
                    "datatype": datatype_of(column),
                    "data": column,
                }
                if tensor["datatype"] == "BYTES":
                    tensor["parameters"] = {"content_type": "str"}
                inputs.append(tensor)
            body = {"parameters": {"content_type": "pd"}, "inputs": inputs}
        else:
            flat = [v for row in rows for v in row]
            body = {
                "inputs": [
                    {
                        "name": self.options.input_name,
                        "shape": [n, d],
                        "datatype": datatype_of(flat),
                        "data": flat,
                    }
                ]
            }
        if self.options.output_name:
            body["outputs"] = [{"name": self.options.output_name}]
        return body

    def decode_request(self, body: JSON) -> Rows:
        inputs = require(body, "inputs", list)
        if not inputs:
            raise CodecError("'inputs' is empty", field="inputs")
        for i, tensor in enumerate(inputs):
            if not isinstance(tensor, dict):
                raise CodecError(f"'inputs[{i}]' must be an object", field=f"inputs[{i}]")
        first_shape = _shape(inputs[0], "inputs[0]")
        if len(inputs) == 1 and len(first_shape) == 2 and inputs[0].get("name") not in self.names:
            return self._decode_tensor(inputs[0], first_shape)
        return self._decode_columns(inputs)

    def _decode_tensor(self, tensor: dict[str, Any], shape: list[int]) -> Rows:
        n, d = shape
        if d != len(self.names):
            raise CodecError(
                f"'inputs[0].shape' is {shape}; expected [n, {len(self.names)}] "
                f"(features: {', '.join(self.names)})",
                field="inputs[0].shape",
            )
        flat = flatten(require(tensor, "data", list, "inputs[0]"), "inputs[0].data")
        if len(flat) != n * d:
            raise CodecError(
                f"'inputs[0].data' has {len(flat)} values; shape {shape} needs {n * d}",
                field="inputs[0].data",
            )
        try:
            return normalise_rows([flat[i * d : (i + 1) * d] for i in range(n)], d)
        except CodecError as exc:
            raise CodecError(f"inputs[0].data: {exc.message}", field="inputs[0].data") from None

    def _decode_columns(self, inputs: list[dict[str, Any]]) -> Rows:
        names, columns = [], []
        for i, tensor in enumerate(inputs):
            where = f"inputs[{i}]"
            names.append(require(tensor, "name", str, where))
            shape = _shape(tensor, where)
            column = flatten(require(tensor, "data", list, where), f"{where}.data")
            if len(column) != math.prod(shape) or (len(shape) == 2 and shape[1] != 1):
                raise CodecError(
                    f"'{where}' ({names[-1]}) must be one column: shape [n] or [n, 1] "
                    f"matching its {len(column)} values",
                    field=f"{where}.shape",
                )
            columns.append(column)
        if len({len(c) for c in columns}) != 1:
            raise CodecError("the inputs have different numbers of rows", field="inputs")
        rows = [list(values) for values in zip(*columns, strict=True)]
        try:
            rows = normalise_rows(rows, len(names))
        except CodecError as exc:
            raise CodecError(f"inputs: {exc.message}", field="inputs") from None
        return reorder(rows, names, self.names, "inputs[].name")

    # --- responses ----------------------------------------------------------------------

    def encode_response(self, scores: np.ndarray) -> JSON:
        scores = np.asarray(scores)
        data = scores.ravel().tolist()
        return {
            "model_name": "model",
            "outputs": [
                {
                    "name": self.options.output_name or "predict",
                    "shape": list(scores.shape),
                    "datatype": datatype_of(data),
                    "data": data,
                }
            ],
        }

    def decode_response(self, body: JSON) -> np.ndarray:
        outputs = require(body, "outputs", list)
        if not outputs:
            raise CodecError("'outputs' is empty", field="outputs")
        wanted = self.options.output_name
        index = 0
        if wanted is not None:
            found = [
                i for i, o in enumerate(outputs) if isinstance(o, dict) and o.get("name") == wanted
            ]
            if not found:
                names = [o.get("name") for o in outputs if isinstance(o, dict)]
                raise CodecError(
                    f"no output named {wanted!r}; the model sent {names}", field="outputs"
                )
            index = found[0]
        where = f"outputs[{index}]"
        shape = _shape(outputs[index], where)
        flat = flatten(require(outputs[index], "data", list, where), f"{where}.data")
        if len(flat) != int(np.prod(shape)):
            raise CodecError(
                f"'{where}.data' has {len(flat)} values; shape {shape} needs {int(np.prod(shape))}",
                field=f"{where}.data",
            )
        return np.array(
            flat, dtype=object if any(isinstance(v, str) for v in flat) else None
        ).reshape(shape)
