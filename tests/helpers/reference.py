"""The reference engines (``tests.helpers.reference_engines``), run from the tests in
``.venv-reference``: alibi 0.9.4 and dice-ml pin numpy<2, the service runs on numpy 2, so
they never share an interpreter. ``make reference`` (in ``make test``) builds it."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import numpy as np
import pytest

from explainers import FeatureSchema
from tests.helpers.support import ROOT

PYTHON = ROOT / ".venv-reference" / "bin" / "python"
TIMEOUT_S = 900


def run(engine: str, request: dict[str, Any]) -> dict[str, Any]:
    """``python -m tests.helpers.reference_engines.<engine>`` in ``.venv-reference`` with
    ``request`` on stdin; its JSON answer. Fails the test when the environment is missing:
    ``make reference`` builds it."""
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: `make reference` (in `make test`) builds it")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [str(PYTHON), "-m", f"tests.helpers.reference_engines.{engine}"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    answer: dict[str, Any] = json.loads(run.stdout)
    return answer


def _features(schema: FeatureSchema) -> list[dict[str, Any]]:
    """Each feature as the engine decodes it: the wire value of each code, or a number."""
    return [
        {
            "name": f.name,
            "wire": [f.decode(code) for code in range(len(f.categories))]
            if f.is_categorical
            else None,
            "integer": bool(f.integer),
        }
        for f in schema.features
    ]


def alibi_anchors(
    schema: FeatureSchema,
    reference: np.ndarray,
    instances: np.ndarray,
    model: dict[str, Any],
    *,
    fit: dict[str, Any] | None = None,
    explain: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """alibi 0.9.4's AnchorTabular fitted on ``reference`` and explaining each of
    ``instances`` (explainer-space matrices of ``schema``), asking ``model``
    (``{"records_url": URL}`` or ``{"rule": True}``): ``explanations`` (alibi's JSON),
    ``calls`` and ``rows`` per instance, ``setup_calls`` (what fitting sent)."""
    request = {
        "features": _features(schema),
        "reference": np.asarray(reference, dtype=float).tolist(),
        "instances": np.atleast_2d(np.asarray(instances, dtype=float)).tolist(),
        "model": model,
        "fit": fit or {},
        "explain": explain or {},
        "seed": seed,
    }
    return run("alibi_anchors", request)
