"""The explanation library: feature schema, explainers and the Explanation they return.

Pure Python: it knows nothing of HTTP, FastAPI or model protocols. An explainer gets a
feature schema, reference data and a black box (a predict function over wire rows)::

    explainer = get_explainer_class("anchors")(schema, reference, BlackBox(predict), params)
    explanation = explainer.explain({"age": 39, ...})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explainers.base import (
        Explainer,
        ExplainerParams,
        available,
        get_explainer_class,
        package_versions,
        seeded,
    )
    from explainers.budget import Budget, CostEstimate
    from explainers.classes import infer_class_names
    from explainers.errors import (
        BudgetExceededError,
        ExplainerError,
        InvalidValueError,
        MissingFeatureError,
        ModelOutputError,
        ParameterError,
        SchemaError,
        UnexpectedFeatureError,
        UnknownCategoryError,
        UnknownMethodError,
    )
    from explainers.explanation import SCHEMA_VERSION, Explanation, Prediction
    from explainers.model import BlackBox, CountingModel, OutputKind, PredictFn
    from explainers.schema import Feature, FeatureKind, FeatureSchema, WireFormat, records_to_rows

#: public name -> the module that defines it; imported when first used (PEP 562), so
#: that ``explainers.explanation`` imports without numpy and pandas (the notebook client).
_WHERE = {
    "Explainer": "explainers.base",
    "ExplainerParams": "explainers.base",
    "available": "explainers.base",
    "get_explainer_class": "explainers.base",
    "package_versions": "explainers.base",
    "seeded": "explainers.base",
    "Budget": "explainers.budget",
    "CostEstimate": "explainers.budget",
    "infer_class_names": "explainers.classes",
    "BudgetExceededError": "explainers.errors",
    "ExplainerError": "explainers.errors",
    "InvalidValueError": "explainers.errors",
    "MissingFeatureError": "explainers.errors",
    "ModelOutputError": "explainers.errors",
    "ParameterError": "explainers.errors",
    "SchemaError": "explainers.errors",
    "UnexpectedFeatureError": "explainers.errors",
    "UnknownCategoryError": "explainers.errors",
    "UnknownMethodError": "explainers.errors",
    "SCHEMA_VERSION": "explainers.explanation",
    "Explanation": "explainers.explanation",
    "Prediction": "explainers.explanation",
    "BlackBox": "explainers.model",
    "CountingModel": "explainers.model",
    "OutputKind": "explainers.model",
    "PredictFn": "explainers.model",
    "Feature": "explainers.schema",
    "FeatureKind": "explainers.schema",
    "FeatureSchema": "explainers.schema",
    "WireFormat": "explainers.schema",
    "records_to_rows": "explainers.schema",
}

__all__ = [
    "SCHEMA_VERSION",
    "BlackBox",
    "Budget",
    "BudgetExceededError",
    "CostEstimate",
    "CountingModel",
    "Explainer",
    "ExplainerError",
    "ExplainerParams",
    "Explanation",
    "Feature",
    "FeatureKind",
    "FeatureSchema",
    "InvalidValueError",
    "MissingFeatureError",
    "ModelOutputError",
    "OutputKind",
    "ParameterError",
    "PredictFn",
    "Prediction",
    "SchemaError",
    "UnexpectedFeatureError",
    "UnknownCategoryError",
    "UnknownMethodError",
    "WireFormat",
    "available",
    "get_explainer_class",
    "infer_class_names",
    "package_versions",
    "records_to_rows",
    "seeded",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
