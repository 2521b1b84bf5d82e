"""Plain JSON records, as many Flask and FastAPI model apps take them.

Requests are a JSON array of ``{feature: value}`` objects (a single object, or
``{"instances" | "records": [...]}``, is read as well). Answers are an array with one entry
per row, or ``{"predictions": [...]}``.
"""

from __future__ import annotations

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import (
    JSON,
    PredictionsAnswer,
    Rows,
    rows_from_records,
)


class RecordsCodec(PredictionsAnswer):
    protocol = "records"

    def encode_request(self, rows: Rows) -> JSON:
        return [dict(zip(self.names, row, strict=True)) for row in rows]

    def decode_request(self, body: JSON) -> Rows:
        if isinstance(body, list):
            return rows_from_records(body, self.names, "(body)")
        if isinstance(body, dict):
            for key in ("instances", "records"):
                if key in body:
                    return rows_from_records(body[key], self.names, key)
            return rows_from_records([body], self.names, "(body)")
        raise CodecError("expected a JSON object or an array of objects")
