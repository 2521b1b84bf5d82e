"""The explanation library: feature schema, explainers and the Explanation they return.

Pure Python: it knows nothing of HTTP, FastAPI or model protocols. An explainer gets a
feature schema, reference data and a black box (a predict function over wire rows)::

    explainer = get_explainer_class("anchors")(schema, reference, BlackBox(predict), params)
    explanation = explainer.explain({"age": 39, ...})
"""

from explainers.base import (
    Explainer,
    ExplainerParams,
    available,
    get_explainer_class,
    package_versions,
    seeded,
)
from explainers.budget import Budget, CostEstimate
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
)
from explainers.explanation import SCHEMA_VERSION, Explanation, Prediction
from explainers.model import BlackBox, CountingModel, OutputKind, PredictFn
from explainers.schema import Feature, FeatureKind, FeatureSchema, WireFormat, records_to_rows

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
    "WireFormat",
    "available",
    "get_explainer_class",
    "package_versions",
    "records_to_rows",
    "seeded",
]
