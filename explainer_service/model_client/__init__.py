"""Calling a remote model as a black box, in the protocol it speaks."""

from explainer_service.errors import CodecError
from explainer_service.model_client.client import SKIP_LOGGING_HEADER, CallStats, RemoteModel
from explainer_service.model_client.codecs import Codec, make_codec

__all__ = ["SKIP_LOGGING_HEADER", "CallStats", "Codec", "CodecError", "RemoteModel", "make_codec"]
