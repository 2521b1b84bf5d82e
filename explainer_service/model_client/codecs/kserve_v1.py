"""KServe v1 / TensorFlow Serving: ``POST /v1/models/{m}:predict``.

``{"instances": [...]}`` in, ``{"predictions": [...]}`` out. Each instance is a list in
feature order (what scikit-learn servers expect) or, with ``instance_format: dict``, an
object of feature -> value. Both are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import (
    JSON,
    PredictionsAnswer,
    Rows,
    require,
    rows_from_records,
    table_rows,
)
from explainer_service.settings import KServeV1Options


class KServeV1Codec(PredictionsAnswer):
    protocol = "kserve-v1"

    def __init__(self, names: Sequence[str], options: KServeV1Options | None = None) -> None:
        super().__init__(names)
        self.options = options or KServeV1Options()

    def encode_request(self, rows: Rows) -> JSON:
        if self.options.instance_format == "dict":
            return {"instances": [dict(zip(self.names, row, strict=True)) for row in rows]}
        return {"instances": rows}

    def decode_request(self, body: JSON) -> Rows:
        instances = require(body, "instances", list)
        if instances and all(isinstance(i, dict) for i in instances):
            return rows_from_records(instances, self.names, "instances")
        if any(isinstance(i, dict) for i in instances):
            raise CodecError("'instances' mixes objects and arrays", field="instances")
        return table_rows(instances, len(self.names), "instances")
