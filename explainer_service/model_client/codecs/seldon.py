"""Seldon Core v1: ``POST /api/v1.0/predictions``.

Requests and answers are ``{"data": {"names": [...], "ndarray": [[...]]}}``; ``tensor``
(``{"shape", "values"}``) is read as well. When ``names`` are given they decide the column
order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import (
    JSON,
    Codec,
    Rows,
    nested_array,
    reorder,
    require,
    table_rows,
)

#: The forms a Seldon message carries its values in; a message holds exactly one.
FORMS = ("ndarray", "tensor", "tftensor", "binData", "strData", "jsonData")


def _one_form(data: dict[str, Any]) -> None:
    """Raises ``CodecError`` for a message with two forms of values (which one the model
    read is unknowable: explaining either could explain the wrong row)."""
    given = [form for form in FORMS if form in data]
    if len(given) > 1:
        raise CodecError(f"'data' holds both {given[0]!r} and {given[1]!r}; send one", field="data")


def _tensor_values(data: dict[str, Any]) -> tuple[list[Any], list[int]]:
    tensor = require(data, "tensor", dict, "data")
    shape = require(tensor, "shape", list, "data.tensor")
    values = require(tensor, "values", list, "data.tensor")
    # math.prod of Python ints cannot wrap (numpy's would: [2**62, 4] has a product of 0),
    # and no dimension may be 0, so the shape cannot promise rows that the values lack
    valid = all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
    if not valid or math.prod(shape) != len(values):
        raise CodecError(
            f"'data.tensor.shape' {shape} does not fit {len(values)} values",
            field="data.tensor.shape",
        )
    return values, shape


class SeldonCodec(Codec):
    protocol = "seldon"

    def encode_request(self, rows: Rows) -> JSON:
        return {"data": {"names": self.names, "ndarray": rows}}

    def decode_request(self, body: JSON) -> Rows:
        data = require(body, "data", dict)
        d = len(self.names)
        names = data.get("names")
        if names is not None and not (
            isinstance(names, list) and all(isinstance(n, str) for n in names)
        ):
            raise CodecError("'data.names' must be an array of strings", field="data.names")
        _one_form(data)
        if "ndarray" in data:
            rows = table_rows(data["ndarray"], len(names or self.names), "data.ndarray")
        elif "tensor" in data:
            values, shape = _tensor_values(data)
            if len(shape) != 2:
                raise CodecError("'data.tensor.shape' must be [n, d]", field="data.tensor.shape")
            rows = table_rows(
                [values[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])],
                shape[1],
                "data.tensor.values",
            )
        else:
            raise CodecError("'data' needs 'ndarray' or 'tensor'", field="data")
        if names:
            return reorder(rows, names, self.names, "data.names")
        if rows and len(rows[0]) != d:
            raise CodecError(f"rows have {len(rows[0])} values; expected {d}", field="data")
        return rows

    def encode_response(self, scores: np.ndarray) -> JSON:
        scores = np.asarray(scores)
        names = [f"t:{i}" for i in range(scores.shape[1])] if scores.ndim == 2 else []
        return {"data": {"names": names, "ndarray": scores.tolist()}, "meta": {}}

    def decode_response(self, body: JSON) -> np.ndarray:
        data = require(body, "data", dict)
        _one_form(data)
        if "ndarray" in data:
            return nested_array(data["ndarray"], "data.ndarray")
        if "tensor" in data:
            values, shape = _tensor_values(data)
            return nested_array(values, "data.tensor.values").reshape(shape)
        raise CodecError("'data' needs 'ndarray' or 'tensor'", field="data")
