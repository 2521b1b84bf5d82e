"""Fit alibi's explainers as MLServer's alibi-explain runtime loads them (``.venv-bench`` only).

    .venv-bench/bin/python -m bench.fit_alibi DIR

``DIR`` holds what the benchmark wrote: ``spec.json`` (feature names, categories, seed,
``disc_perc``), ``reference.npy`` (the reference rows in codes), ``background.npz`` (the
k-means background the service uses: ``data`` and ``weights``) and ``model.joblib``. Writes
``DIR/anchors`` (``AnchorTabular``) and ``DIR/kernel-shap`` (``KernelShap``) with
``alibi.saving.save_explainer``; the runtime hands each its remote predictor when it loads.
alibi 0.9.6 is under the Business Source License: it is installed only in ``.venv-bench``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np


def main(directory: Path) -> None:
    from alibi.explainers import AnchorTabular, KernelShap
    from alibi.saving import save_explainer
    from shap.utils._legacy import DenseData

    spec = json.loads((directory / "spec.json").read_text())
    names: list[str] = spec["features"]
    categories: dict[str, list[str]] = spec["categories"]
    reference = np.load(directory / "reference.npy")
    model = joblib.load(directory / "model.joblib")

    anchor = AnchorTabular(
        model.predict_proba,
        feature_names=names,
        categorical_names={names.index(n): c for n, c in categories.items()},
        seed=spec["seed"],
    )
    anchor.fit(reference, disc_perc=tuple(spec["disc_perc"]))
    save_explainer(anchor, directory / "anchors")

    background = np.load(directory / "background.npz")
    shap_explainer = KernelShap(
        model.predict_proba,
        link="identity",
        feature_names=names,
        task="classification",
        seed=spec["seed"],
    )
    shap_explainer.fit(
        DenseData(background["data"], names, None, background["weights"]),
    )
    save_explainer(shap_explainer, directory / "kernel-shap")
    print(f"saved {directory / 'anchors'} and {directory / 'kernel-shap'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
