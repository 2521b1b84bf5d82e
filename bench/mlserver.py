"""MLServer 1.6.1: the model server, the alibi-explain server, and how to ask them.

Two MLServer processes, each with its own model repository and ports: the sklearn runtime
serving the model (``predict_fn: predict_proba``, so a request without ``outputs`` answers
probabilities, which is what alibi-explain sends), and, once that answers, the
alibi-explain runtime loading the saved ``AnchorTabular`` and ``KernelShap`` (with
``explainer_batch: true``: without it the runtime strips the batch dimension and
``KernelShap`` answers 400). The explainers call the model at ``infer_uri``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.processes import Server, free_port

MODEL_NAME = "income"
ANCHORS_NAME = "income-anchors"
SHAP_NAME = "income-kernel-shap"


def _settings(directory: Path, workers: int) -> int:
    """``settings.json`` with free ports; returns the HTTP port."""
    http = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": http,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": workers,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(settings, indent=2))
    return http


def _model_settings(directory: Path, settings: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model-settings.json").write_text(json.dumps(settings, indent=2))


def model_server(venv: Path, repo: Path, model: Path, log: Path) -> Server:
    """The sklearn runtime serving ``model`` as ``income``, probabilities by default. It
    predicts in its own process (``parallel_workers: 0``): the model both explainers share
    answers the same way for both."""
    http = _settings(repo, 0)
    _model_settings(
        repo / MODEL_NAME,
        {
            "name": MODEL_NAME,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(model), "extra": {"predict_fn": "predict_proba"}},
        },
    )
    return Server(
        "MLServer (model)",
        [venv / "bin" / "mlserver", "start", repo],
        f"http://127.0.0.1:{http}/v2/models/{MODEL_NAME}/ready",
        log,
    )


def explainer_server(
    venv: Path, repo: Path, fitted: Path, infer_uri: str, log: Path, workers: int
) -> Server:
    """The alibi-explain runtime with the explainers saved in ``fitted`` (by ``fit_alibi``);
    ``workers`` is MLServer's ``parallel_workers`` (its default is 1: explanations run in a
    worker process, with its ``uvloop<0.22``)."""
    http = _settings(repo, workers)
    for name, kind, path, extra in (
        (ANCHORS_NAME, "anchor_tabular", fitted / "anchors", {}),
        (SHAP_NAME, "kernel_shap", fitted / "kernel-shap", {"explainer_batch": True}),
    ):
        _model_settings(
            repo / name,
            {
                "name": name,
                "implementation": "mlserver_alibi_explain.AlibiExplainRuntime",
                "parameters": {
                    "uri": str(path),
                    "extra": {"explainer_type": kind, "infer_uri": infer_uri, **extra},
                },
            },
        )
    base = f"http://127.0.0.1:{http}"
    return Server(
        "MLServer (alibi-explain)",
        [venv / "bin" / "mlserver", "start", repo],
        f"{base}/v2/models/{SHAP_NAME}/ready",
        log,
    )


def explain_request(row: list[float], parameters: dict[str, Any]) -> dict[str, Any]:
    """A V2 request for the alibi-explain runtime: one FP64 row, ``explain_parameters``."""
    return {
        "parameters": {"content_type": "np", "explain_parameters": parameters},
        "inputs": [{"name": "predict", "shape": [1, len(row)], "datatype": "FP64", "data": row}],
    }


def explanation_of(answer: dict[str, Any]) -> dict[str, Any]:
    """alibi's Explanation (``{"meta", "data"}``) from the runtime's V2 answer."""
    data = answer["outputs"][0]["data"][0]
    return json.loads(data) if isinstance(data, str) else data
