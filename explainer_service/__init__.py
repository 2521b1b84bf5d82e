"""Explainer-as-a-service: explanations for a remote model it treats as a black box."""

from explainer_service.errors import (
    ExplainerServiceError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
    PayloadError,
    ProtocolMismatchError,
)
from explainer_service.model_client import RemoteModel
from explainer_service.settings import ModelSettings, Protocol
from explainers.model import OutputKind

__all__ = [
    "ExplainerServiceError",
    "ModelError",
    "ModelResponseError",
    "ModelSettings",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "OutputKind",
    "PayloadError",
    "Protocol",
    "ProtocolMismatchError",
    "RemoteModel",
]
