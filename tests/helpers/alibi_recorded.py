"""alibi 0.9.4's explanation shapes, recorded, for the tests that check only that the
service answers in alibi's shape (``tests/unit/compat/test_alibi_shape.py``,
``tests/integration/test_service.py``): alibi itself pins numpy<2 and lives in
``.venv-reference``. ``tests/unit/compat/test_alibi_recorded.py`` checks these against the
installed alibi there, so a recording that no longer matches fails.

``from_json`` is what alibi's ``Explanation.from_json`` does (what MLServer's clients call):
``meta`` and ``data`` of the JSON, ``data``'s and ``meta``'s keys as attributes."""

from __future__ import annotations

import json
from typing import Any

# alibi.api.defaults
DEFAULT_META_ANCHOR: dict[str, Any] = {
    "name": None,
    "type": ["blackbox"],
    "explanations": ["local"],
    "params": {},
    "version": None,
}
DEFAULT_DATA_ANCHOR: dict[str, Any] = {
    "anchor": [],
    "precision": None,
    "coverage": None,
    "raw": None,
}
DEFAULT_META_KERNEL_SHAP: dict[str, Any] = {
    "name": None,
    "type": ["blackbox"],
    "task": None,
    "explanations": ["local", "global"],
    "params": {
        "link": None,
        "group_names": None,
        "grouped": None,
        "groups": None,
        "weights": None,
        "summarise_background": None,
        "summarise_result": None,
        "transpose": None,
        "kwargs": None,
    },
    "version": None,
}
DEFAULT_DATA_KERNEL_SHAP: dict[str, Any] = {
    "shap_values": [],
    "expected_value": [],
    "categorical_names": {},
    "feature_names": [],
    "raw": {"raw_prediction": None, "prediction": None, "instances": None, "importances": {}},
}
DEFAULT_DATA_CF: dict[str, Any] = {
    "cf": None,
    "all": [],
    "orig_class": None,
    "orig_proba": None,
    "success": None,
}
DEFAULT_DATA_PERMUTATION_IMPORTANCE: dict[str, Any] = {
    "feature_names": None,
    "metric_names": None,
    "feature_importance": None,
}

#: The keys of an ``AnchorTabular(...).explain(x).to_json()`` answer of alibi 0.9.4.
ANCHOR_TABULAR_KEYS: dict[str, list[str]] = {
    "meta": ["explanations", "name", "params", "type", "version"],
    "data": ["anchor", "coverage", "precision", "raw"],
    "raw": [
        "all_precision",
        "coverage",
        "examples",
        "feature",
        "instance",
        "instances",
        "mean",
        "names",
        "num_preds",
        "precision",
        "prediction",
        "success",
    ],
    "examples": ["covered_false", "covered_true", "uncovered_false", "uncovered_true"],
}

#: What tests/unit/compat/test_alibi_recorded.py compares with the installed alibi.
DEFAULTS = {
    "DEFAULT_META_ANCHOR": DEFAULT_META_ANCHOR,
    "DEFAULT_DATA_ANCHOR": DEFAULT_DATA_ANCHOR,
    "DEFAULT_META_KERNEL_SHAP": DEFAULT_META_KERNEL_SHAP,
    "DEFAULT_DATA_KERNEL_SHAP": DEFAULT_DATA_KERNEL_SHAP,
    "DEFAULT_DATA_CF": DEFAULT_DATA_CF,
    "DEFAULT_DATA_PERMUTATION_IMPORTANCE": DEFAULT_DATA_PERMUTATION_IMPORTANCE,
}


class AlibiExplanation:
    """An explanation as alibi 0.9.4's ``Explanation.from_json`` reads it."""

    def __init__(self, meta: dict[str, Any], data: dict[str, Any]) -> None:
        self.meta = meta
        self.data = data
        # as alibi's __attrs_post_init__: meta's keys, then data's, as attributes
        for key, value in {**meta, **data}.items():
            setattr(self, key, value)

    @classmethod
    def from_json(cls, text: str) -> AlibiExplanation:
        shaped = json.loads(text)
        return cls(meta=shaped["meta"], data=shaped["data"])
