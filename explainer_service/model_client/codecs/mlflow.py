"""MLflow scoring server: ``POST /invocations``.

Requests are ``{"dataframe_split": {"columns", "data"}}`` or ``{"dataframe_records": [...]}``
(both read; the configured one is sent). Answers are ``{"predictions": [...]}`` (MLflow 2) or
a bare array (MLflow 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import (
    JSON,
    PredictionsAnswer,
    Rows,
    reorder,
    require,
    rows_from_records,
    table_rows,
)
from explainer_service.settings import MlflowOptions


class MlflowCodec(PredictionsAnswer):
    protocol = "mlflow"

    def __init__(self, names: Sequence[str], options: MlflowOptions | None = None) -> None:
        super().__init__(names)
        self.options = options or MlflowOptions()

    def encode_request(self, rows: Rows) -> JSON:
        if self.options.format == "dataframe_records":
            return {"dataframe_records": [dict(zip(self.names, row, strict=True)) for row in rows]}
        return {"dataframe_split": {"columns": self.names, "data": rows}}

    def decode_request(self, body: JSON) -> Rows:
        if isinstance(body, dict) and "dataframe_records" in body:
            return rows_from_records(body["dataframe_records"], self.names, "dataframe_records")
        if isinstance(body, dict) and "dataframe_split" in body:
            split = require(body, "dataframe_split", dict)
            columns = require(split, "columns", list, "dataframe_split")
            if not all(isinstance(c, str) for c in columns):
                raise CodecError(
                    "'dataframe_split.columns' must be strings", field="dataframe_split.columns"
                )
            rows = table_rows(
                require(split, "data", list, "dataframe_split"),
                len(columns),
                "dataframe_split.data",
            )
            return reorder(rows, columns, self.names, "dataframe_split.columns")
        raise CodecError("expected 'dataframe_split' or 'dataframe_records'")
