"""The bodies the Open Inference Protocol routes answer, as MLServer's alibi-explain runtime
answers them; closed, as every answer is (``explainer_service.api.bodies.Body``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from explainer_service.api.bodies import Body


class V2Live(Body):
    live: bool


class V2Ready(Body):
    ready: bool
    reason: str = Field(description="as on /health/ready")


class V2ServerMetadata(Body):
    name: str
    version: str
    extensions: list[str]


class V2TensorMetadata(Body):
    name: str
    datatype: str = Field(description="BYTES, INT64, FP64, ...")
    shape: list[int] = Field(description="-1: any length")


class V2ModelParameters(Body):
    content_type: str = Field(description="pd: one input per feature")
    explainer_method: str
    explained_model: str


class V2ModelMetadata(Body):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata] = Field(description="one per feature")
    outputs: list[V2TensorMetadata]
    parameters: V2ModelParameters


class V2Output(Body):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class V2ResponseParameters(Body):
    explanation_id: str
    ignored_explain_parameters: list[str] = Field(
        description="alibi's parameters that tune its own implementation, ignored here"
    )


class V2Response(Body):
    """An Open Inference Protocol answer, as MLServer's alibi-explain runtime gives it: the
    explanation (``AlibiExplanation``) as JSON text in the BYTES output ``explanation``."""

    model_name: str
    model_version: str | None
    id: str | None
    parameters: V2ResponseParameters
    outputs: list[V2Output]
