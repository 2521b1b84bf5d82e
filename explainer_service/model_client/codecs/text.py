"""Text models: one feature, a string per row, in each protocol's form for strings.

``TextCodec`` wraps the protocol's own codec and changes only what a text model sends and
reads differently from a table:

- Open Inference Protocol V2: one ``BYTES`` input of shape ``[n, 1]`` with
  ``parameters.content_type = "str"`` (what MLServer's ``StringCodec`` sends and decodes);
  read: one input of shape ``[n]`` or ``[n, 1]`` holding strings, whatever its name;
- KServe v1: ``{"instances": ["text", ...]}``;
- Seldon: ``{"data": {"names": [feature], "ndarray": ["text", ...]}}``; read as well:
  ``{"data": {"strData": "text"}}`` (one row);
- MLflow and records: as for a table (a column holding the text).

Anything else is read by the wrapped codec, so a text in a table form is read too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import JSON, Codec, Rows
from explainer_service.model_client.codecs.kserve_v1 import KServeV1Codec
from explainer_service.model_client.codecs.seldon import SeldonCodec
from explainer_service.model_client.codecs.v2 import V2Codec


def _strings(values: Any, field: str) -> Rows | None:
    """``values`` as one-text rows when it is a flat JSON array of strings; else None."""
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return [[v] for v in values]
    if (
        isinstance(values, list)
        and values
        and all(isinstance(v, list) and len(v) == 1 and isinstance(v[0], str) for v in values)
    ):
        return [[v[0]] for v in values]
    return None


class TextCodec(Codec):
    """The protocol of ``inner`` for a model whose one input is a text."""

    def __init__(self, inner: Codec) -> None:
        super().__init__(inner.names)
        if len(inner.names) != 1:
            raise CodecError("a text model takes one input, its text")
        self.inner = inner
        self.protocol = inner.protocol  # type: ignore[misc]

    def encode_request(self, rows: Rows) -> JSON:
        texts = [row[0] for row in rows]
        inner = self.inner
        if isinstance(inner, V2Codec) and inner.options.input_layout == "tensor":
            body: dict[str, Any] = {
                "inputs": [
                    {
                        "name": inner.options.input_name,
                        "shape": [len(texts), 1],
                        "datatype": "BYTES",
                        "parameters": {"content_type": "str"},
                        "data": texts,
                    }
                ]
            }
            if inner.options.output_name:
                body["outputs"] = [{"name": inner.options.output_name}]
            return body
        if isinstance(inner, KServeV1Codec) and inner.options.instance_format == "list":
            return {"instances": texts}
        if isinstance(inner, SeldonCodec):
            return {"data": {"names": self.names, "ndarray": texts}}
        return inner.encode_request(rows)

    def decode_request(self, body: JSON) -> Rows:
        rows = self._text_form(body)
        return rows if rows is not None else self.inner.decode_request(body)

    def _text_form(self, body: JSON) -> Rows | None:
        if not isinstance(body, dict):
            return None
        if isinstance(self.inner, V2Codec):
            inputs = body.get("inputs")
            if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], dict):
                tensor = inputs[0]
                shape = tensor.get("shape")
                rows = _strings(tensor.get("data"), "inputs[0].data")
                if rows is not None and shape in ([len(rows)], [len(rows), 1]):
                    return rows
            return None
        if isinstance(self.inner, KServeV1Codec):
            return _strings(body.get("instances"), "instances")
        if isinstance(self.inner, SeldonCodec):
            data = body.get("data")
            if not isinstance(data, dict):
                return None
            if "strData" in data:
                if len(data) > 1 and any(k in data for k in ("ndarray", "tensor")):
                    raise CodecError(
                        "'data' holds strData and another form; send one", field="data"
                    )
                if not isinstance(data["strData"], str):
                    raise CodecError("'data.strData' must be a string", field="data.strData")
                return [[data["strData"]]]
            return _strings(data.get("ndarray"), "data.ndarray")
        return None

    def encode_response(self, scores: np.ndarray) -> JSON:
        return self.inner.encode_response(scores)

    def decode_response(self, body: JSON) -> np.ndarray:
        return self.inner.decode_response(body)
