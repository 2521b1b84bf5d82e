"""The explainer service: its configuration for the benchmark's model, and its payloads.

Only the documented surface is used: ``explainer-service serve --config``, ``POST /explain``
with the model's own payload (an Open Inference Protocol tensor), method parameters as
query parameters, ``GET /health/live`` and ``/health/ready``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.data import CATEGORICAL, CLASS_NAMES

#: As in examples/income/explainer.yaml: counterfactuals never change these.
IMMUTABLE = ["age", "gender", "ethnicity", "relationship", "marital-status"]


#: the service's worker processes (its default on two cores); the warm-up gives each one
#: explanation of each method, so no measured explanation pays for a worker's first imports
WORKERS = 2


def config(
    *,
    model_url: str,
    reference: Path,
    categories: dict[str, list[str]],
    store: Path,
    threshold: float,
    shap_nsamples: int,
    background_size: int,
) -> dict[str, Any]:
    """The service's configuration: v2 tensor, probabilities, every categorical feature
    sent as its ordinal code (``wire: code`` with its categories in code order)."""
    return {
        "model": {
            "name": "income-codes",
            "url": model_url,
            "protocol": "v2",
            "output": "probabilities",
            "class_names": CLASS_NAMES,
            "timeout_s": 60,
        },
        "data": {"reference": str(reference), "target": "loan"},
        "features": {
            "categorical": CATEGORICAL,
            "immutable": IMMUTABLE,
            "missing": ["?"],
            "overrides": {
                name: {"wire": "code", "categories": categories[name]} for name in CATEGORICAL
            },
        },
        "explainers": {
            "anchors": {"threshold": threshold},
            "shap": {"nsamples": shap_nsamples, "background_size": background_size},
            "counterfactual": {"total": 3},
        },
        # the model is checked once when the service starts; a periodic re-check would be
        # counted as a model call of whatever explanation runs at that moment
        "service": {"store": str(store), "ready_recheck_s": 86400, "workers": WORKERS},
    }


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def payload(row: list[float], datatype: str = "FP64") -> dict[str, Any]:
    """One row as a tensor model is called: ``[1, d]``, FP64 (or INT64 with whole numbers)."""
    data: list[Any] = [float(v) for v in row] if datatype == "FP64" else [round(v) for v in row]
    return {
        "inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": datatype, "data": data}]
    }
