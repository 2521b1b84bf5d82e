"""Configuration models.

The model URL comes only from here, never from a request.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl

from explainers.model import OutputKind


class Protocol(StrEnum):
    v2 = "v2"  # Open Inference Protocol: /v2/models/{m}/infer
    seldon = "seldon"  # Seldon v1: {"data": {"names", "ndarray" | "tensor"}}
    kserve_v1 = "kserve-v1"  # KServe v1 / TF serving: {"instances"} -> {"predictions"}
    mlflow = "mlflow"  # MLflow /invocations: dataframe_split | dataframe_records
    records = "records"  # a JSON list of {feature: value}


class V2Options(BaseModel):
    input_layout: Literal["tensor", "columnar"] = Field(
        "tensor",
        description="tensor: one [n, d] input; columnar: one input per feature with "
        'parameters.content_type "pd" (what MLServer\'s pandas codec reads)',
    )
    input_name: str = Field("input-0", description="name of the single input (tensor layout)")
    output_name: str | None = Field(
        None, description="output to request and read, e.g. predict_proba; default: the first"
    )


class KServeV1Options(BaseModel):
    instance_format: Literal["list", "dict"] = Field(
        "list", description="each instance as a list in schema order or as {feature: value}"
    )


class MlflowOptions(BaseModel):
    format: Literal["dataframe_split", "dataframe_records"] = "dataframe_split"


class ModelSettings(BaseModel):
    """The remote model: where it is, what it speaks, and how to call it."""

    name: str = "model"
    url: HttpUrl
    protocol: Protocol = Protocol.v2
    output: OutputKind = OutputKind.probabilities
    class_names: list[str] | None = None
    timeout_s: float = Field(10.0, gt=0, description="per HTTP call")
    max_batch_rows: int = Field(2000, ge=1, description="larger batches are split")
    concurrency: int = Field(4, ge=1, le=64, description="chunks in flight at once")
    retries: int = Field(3, ge=0, le=10, description="for refused/reset connections, 502, 503")
    backoff_s: float = Field(0.1, ge=0, description="first retry delay; doubles each retry")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sent with every call (e.g. Authorization); Seldon-Skip-Logging is always sent",
    )
    v2: V2Options = Field(default_factory=V2Options)
    kserve_v1: KServeV1Options = Field(default_factory=KServeV1Options)
    mlflow: MlflowOptions = Field(default_factory=MlflowOptions)
