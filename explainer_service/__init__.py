"""Explainer-as-a-service: explanations for a remote model it treats as a black box.

The names below are imported when first used (PEP 562), so that ``explainer_service.client``
imports without the server's dependencies (a plain ``pip install explainer-service``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "ExplainerServiceError": "explainer_service.errors",
    "ModelError": "explainer_service.errors",
    "ModelResponseError": "explainer_service.errors",
    "ModelTimeoutError": "explainer_service.errors",
    "ModelUnavailableError": "explainer_service.errors",
    "PayloadError": "explainer_service.errors",
    "ProtocolMismatchError": "explainer_service.errors",
    "RemoteModel": "explainer_service.model_client",
    "ModelSettings": "explainer_service.settings",
    "Protocol": "explainer_service.settings",
    "OutputKind": "explainers.model",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
