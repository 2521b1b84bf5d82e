"""What ``explain`` was given, as the body ``POST /explain`` reads.

A mapping of feature -> scalar, a pandas ``Series`` or a one-row ``DataFrame`` is one record,
sent as ``{"instances": [record]}``; anything else (a v2, Seldon, KServe or MLflow request, a
list of records) is the inference payload as the model received it, sent as it is. pandas is
not imported here: an object is a Series or a DataFrame only when pandas is already loaded.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

from explainers.wire import native

Scalar = int | float | str | bool | None


def _plain(value: Any) -> Scalar:
    """A numpy or pandas scalar as the Python value JSON carries; NaN and missing as None
    (the service answers which feature is missing)."""
    value = native(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, int | float | str | bool):
        return value
    pandas = sys.modules.get("pandas")
    if pandas is not None and value is pandas.NA:
        return None
    return str(value)


def _is(value: Any, name: str) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, getattr(pandas, name))


def record_of(x: Any) -> dict[str, Scalar] | None:
    """``x`` as one record (feature -> value), or None when it is a payload to send as is.

    Raises ``ValueError`` for a DataFrame that is not one row (``explain_many`` takes those)."""
    if _is(x, "DataFrame"):
        if len(x) != 1:
            raise ValueError(
                f"a DataFrame of {len(x)} rows: explain takes one row (explain_many takes many)"
            )
        x = x.iloc[0]
    if _is(x, "Series"):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, Mapping) and all(
        not isinstance(v, Mapping | list | tuple) for v in x.values()
    ):
        return {str(k): _plain(v) for k, v in x.items()}
    return None


def request_body(
    x: Any, parameters: Mapping[str, Any], instance: int | None = None
) -> dict[str, Any]:
    """The envelope ``{"payload", "parameters"[, "instance"]}``; ``x`` None for a global
    method (importance)."""
    record = None if x is None else record_of(x)
    payload = {"instances": [record]} if record is not None else x
    body: dict[str, Any] = {"payload": payload, "parameters": dict(parameters)}
    if instance is not None:
        body["instance"] = instance
    return body
