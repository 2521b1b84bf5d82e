"""alibi 0.9.4's explanation shapes as the installed alibi has them, run in
``.venv-reference``: its ``alibi.api.defaults`` and the keys of one ``AnchorTabular``
answer (a one-feature rule on random rows). No request; the answer on stdout."""

from __future__ import annotations

import json
import sys

import numpy as np
from alibi.api import defaults
from alibi.explainers import AnchorTabular

NAMES = [
    "DEFAULT_META_ANCHOR",
    "DEFAULT_DATA_ANCHOR",
    "DEFAULT_META_KERNEL_SHAP",
    "DEFAULT_DATA_KERNEL_SHAP",
    "DEFAULT_DATA_CF",
    "DEFAULT_DATA_PERMUTATION_IMPORTANCE",
]


def main() -> None:
    rows = np.random.default_rng(0).integers(0, 3, size=(200, 2)).astype(float)
    explainer = AnchorTabular(
        lambda x: (x[:, 0] > 1).astype(int),
        feature_names=["a", "b"],
        categorical_names={1: ["x", "y", "z"]},
        seed=0,
    )
    explainer.fit(rows)
    answer = json.loads(explainer.explain(rows[0], threshold=0.9).to_json())
    keys = {
        "meta": sorted(answer["meta"]),
        "data": sorted(answer["data"]),
        "raw": sorted(answer["data"]["raw"]),
        "examples": sorted(answer["data"]["raw"]["examples"][0]),
    }
    defaults_now = {name: getattr(defaults, name) for name in NAMES}
    json.dump({"defaults": defaults_now, "anchor_tabular_keys": keys}, sys.stdout)


if __name__ == "__main__":
    main()
