"""Protocol codecs, one module per protocol, looked up by ``Protocol``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from explainer_service.errors import CodecError
from explainer_service.model_client.codecs.base import Codec, Rows
from explainer_service.model_client.codecs.kserve_v1 import KServeV1Codec
from explainer_service.model_client.codecs.mlflow import MlflowCodec
from explainer_service.model_client.codecs.records import RecordsCodec
from explainer_service.model_client.codecs.seldon import SeldonCodec
from explainer_service.model_client.codecs.text import TextCodec
from explainer_service.model_client.codecs.v2 import V2Codec
from explainer_service.settings import ModelSettings, Protocol

#: Protocol -> how to build its codec from the feature names and the model settings.
REGISTRY: dict[Protocol, Callable[[Sequence[str], ModelSettings], Codec]] = {
    Protocol.v2: lambda names, settings: V2Codec(names, settings.v2),
    Protocol.seldon: lambda names, settings: SeldonCodec(names),
    Protocol.kserve_v1: lambda names, settings: KServeV1Codec(names, settings.kserve_v1),
    Protocol.mlflow: lambda names, settings: MlflowCodec(names, settings.mlflow),
    Protocol.records: lambda names, settings: RecordsCodec(names),
}


def make_codec(settings: ModelSettings, names: Sequence[str], *, text: bool = False) -> Codec:
    """The codec for ``settings.protocol``, with that protocol's options; ``text``: for a
    model whose one input is a text (``TextCodec``)."""
    codec = REGISTRY[settings.protocol](names, settings)
    return TextCodec(codec) if text else codec


__all__ = [
    "REGISTRY",
    "Codec",
    "CodecError",
    "KServeV1Codec",
    "MlflowCodec",
    "RecordsCodec",
    "Rows",
    "SeldonCodec",
    "TextCodec",
    "V2Codec",
    "make_codec",
]
