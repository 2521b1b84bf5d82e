"""The explanation library: feature schema, explainers and the Explanation they return.

Pure Python: it knows nothing of HTTP, FastAPI or model protocols.
"""

from explainers.errors import (
    ExplainerError,
    InvalidValueError,
    MissingFeatureError,
    SchemaError,
    UnexpectedFeatureError,
    UnknownCategoryError,
)
from explainers.schema import Feature, FeatureKind, FeatureSchema, WireFormat, records_to_rows

__all__ = [
    "ExplainerError",
    "Feature",
    "FeatureKind",
    "FeatureSchema",
    "InvalidValueError",
    "MissingFeatureError",
    "SchemaError",
    "UnexpectedFeatureError",
    "UnknownCategoryError",
    "WireFormat",
    "records_to_rows",
]
