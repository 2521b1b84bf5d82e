"""The bodies the compatibility routes answer, as the OpenAPI document states them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class V2Output(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class V2Response(BaseModel):
    """An Open Inference Protocol answer, as MLServer's alibi-explain runtime gives it: the
    explanation (``AlibiExplanation``) as JSON text in the BYTES output ``explanation``."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2Output]
