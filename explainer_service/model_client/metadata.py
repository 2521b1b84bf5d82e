"""What a model declares about its inputs: Open Inference Protocol (V2) model metadata, or
the signature of an MLflow ``MLmodel`` file.

Read once at start-up, to choose the features (``explainer_service.runtime.features``). The V2
metadata is asked for with the headers of every other call (``synthetic_headers``); while
the model is unreachable, times out or answers 5xx, it is asked again until
``model.metadata_wait_s`` is spent. A 4xx answer is final.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from explainer_service.errors import ConfigError
from explainer_service.model_client.client import synthetic_headers
from explainer_service.settings import ModelSettings, Protocol

V2_METADATA = "the model's V2 metadata"
MLMODEL_SIGNATURE = "the MLmodel signature"
#: What a column of a columnar V2 model looks like: one value per row.
_COLUMN_SHAPES = ([-1], [-1, 1])


@dataclass(frozen=True)
class DeclaredInputs:
    """The model's inputs as ``source`` declares them.

    ``names``: one named input per feature, in the model's order (names of columns, if the
    model reads columns). ``width``: one tensor input of ``width`` features, names unknown.
    A single input of one value per row has both. Neither: ``missing`` says why the source
    tells nothing, and ``fault`` whether that is a failure (unreachable, garbled, refused)
    rather than metadata the model simply does not have.
    """

    source: str
    names: tuple[str, ...] | None = None
    width: int | None = None
    missing: str | None = None
    fault: bool = False


def declared_inputs(
    settings: ModelSettings, *, transport: httpx.BaseTransport | None = None
) -> DeclaredInputs | None:
    """What the model declares: V2 metadata (``v2``), the ``model.mlflow.mlmodel`` file
    (``mlflow``); None for a protocol that offers neither."""
    if settings.protocol is Protocol.v2:
        return v2_inputs(settings, transport=transport)
    if settings.protocol is Protocol.mlflow and settings.mlflow.mlmodel is not None:
        return mlmodel_inputs(settings.mlflow.mlmodel)
    return None


def metadata_url(infer_url: str) -> str | None:
    """The V2 model metadata URL of a V2 infer URL: without its trailing ``/infer`` (as
    MLServer's ``construct_metadata_url``); None when the path does not end in it."""
    parts = urlsplit(infer_url)
    if not parts.path.endswith("/infer"):
        return None
    return urlunsplit(parts._replace(path=parts.path.removesuffix("/infer")))


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def v2_inputs(
    settings: ModelSettings, *, transport: httpx.BaseTransport | None = None
) -> DeclaredInputs:
    """The inputs of GET ``{model URL without /infer}``: columnar (inputs of shape [-1] or
    [-1, 1]: their names) or one tensor [-1, d] (its width). Waits at most about
    ``metadata_wait_s`` for a model that is not up yet; never raises for the model's sake."""
    url = metadata_url(str(settings.url))
    if url is None:
        return DeclaredInputs(V2_METADATA, missing="model.url does not end in /infer")
    wait_s = settings.metadata_wait_s
    if wait_s == 0:
        return DeclaredInputs(V2_METADATA, missing="not asked for (model.metadata_wait_s is 0)")
    deadline = time.monotonic() + wait_s

    def ask(client: httpx.Client) -> httpx.Response:
        left = max(deadline - time.monotonic(), 0.1)
        response = client.get(url, timeout=min(settings.timeout_s, left))
        if response.status_code >= 500:
            raise _ServerError(response.status_code)
        return response

    backoff = wait_exponential(multiplier=0.25, max=2.0)
    retrying = Retrying(
        retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
        stop=stop_after_delay(wait_s),
        # the last attempt when the wait is spent, not a backoff before it
        wait=lambda state: min(backoff(state), max(deadline - time.monotonic(), 0.0)),
        reraise=True,
    )
    with httpx.Client(headers=synthetic_headers(settings), transport=transport) as client:
        try:
            response = retrying(ask, client)
        except (httpx.TransportError, httpx.DecodingError, _ServerError) as exc:
            return DeclaredInputs(
                V2_METADATA,
                missing=f"no answer from {url} within model.metadata_wait_s ({wait_s:g} s): "
                f"{type(exc).__name__}: {exc}",
                fault=True,
            )
    if response.status_code >= 400:
        return DeclaredInputs(
            V2_METADATA,
            missing=f"the model answered HTTP {response.status_code}",
            fault=response.status_code != 404,
        )
    try:
        body = response.json()
    except ValueError:
        return DeclaredInputs(V2_METADATA, missing="the answer is not JSON", fault=True)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not inputs:
        return DeclaredInputs(V2_METADATA, missing="it declares no inputs")
    return _tensors(inputs)


def _tensors(inputs: Any) -> DeclaredInputs:
    """The inputs of V2 metadata: a list of ``{"name", "datatype", "shape"}``."""
    if not isinstance(inputs, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("name"), str)
        and isinstance(i.get("shape"), list)
        and all(isinstance(n, int) for n in i["shape"])
        for i in inputs
    ):
        return DeclaredInputs(V2_METADATA, missing="its inputs are not V2 tensors", fault=True)
    names = tuple(i["name"] for i in inputs)
    shapes = [i["shape"] for i in inputs]
    if all(shape in _COLUMN_SHAPES for shape in shapes):
        return DeclaredInputs(V2_METADATA, names=names, width=1 if len(names) == 1 else None)
    if len(shapes) == 1 and len(shapes[0]) == 2 and shapes[0][1] > 0:
        return DeclaredInputs(V2_METADATA, width=shapes[0][1])
    described = ", ".join(f"{name} {shape}" for name, shape in zip(names, shapes, strict=True))
    return DeclaredInputs(
        V2_METADATA,
        missing=f"its inputs ({described}) are neither one per feature nor one [-1, d] tensor",
        fault=True,
    )


def mlmodel_inputs(path: Path) -> DeclaredInputs:
    """The inputs of an MLflow ``MLmodel`` file's ``signature.inputs`` (a JSON string of
    column specs ``{"type", "name"}``, or of tensor specs). Raises ``ConfigError`` when
    the file cannot be read."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"model.mlflow.mlmodel: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"model.mlflow.mlmodel: {path} is not YAML: {exc}") from None
    signature = document.get("signature") if isinstance(document, dict) else None
    specs = signature.get("inputs") if isinstance(signature, dict) else None
    if specs is None:
        return DeclaredInputs(MLMODEL_SIGNATURE, missing=f"{path} has no signature inputs")
    try:
        specs = json.loads(specs) if isinstance(specs, str) else specs
    except ValueError:
        raise ConfigError(f"model.mlflow.mlmodel: signature.inputs of {path} is not JSON") from None
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise ConfigError(f"model.mlflow.mlmodel: signature.inputs of {path} is not a list")
    if any(spec.get("type") == "tensor" for spec in specs):
        tensor = specs[0].get("tensor-spec") if len(specs) == 1 else None
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        width = shape[1] if isinstance(shape, list) and len(shape) == 2 else None
        if isinstance(width, int) and width > 0:
            return DeclaredInputs(MLMODEL_SIGNATURE, width=width)
        return DeclaredInputs(MLMODEL_SIGNATURE, missing="a tensor signature names no columns")
    names = [spec.get("name") for spec in specs]
    if not names or not all(isinstance(name, str) for name in names):
        return DeclaredInputs(MLMODEL_SIGNATURE, missing="its columns have no names")
    return DeclaredInputs(MLMODEL_SIGNATURE, names=tuple(str(name) for name in names))
