"""``features.category_labels`` checked against the feature schema at start-up."""

from __future__ import annotations

from collections.abc import Mapping

from explainer_service.errors import ConfigError
from explainers.schema import FeatureSchema


def check_category_labels(
    schema: FeatureSchema, category_labels: Mapping[str, Mapping[str, str]]
) -> None:
    """Raises ``ConfigError`` naming a feature that is not categorical or a category the
    reference data does not hold: a misspelt one would silently show the code."""
    for name, labels in category_labels.items():
        if name not in schema.names:
            raise ConfigError(f"features.category_labels: {name!r} is not a feature")
        feature = schema[name]
        if not feature.is_categorical:
            raise ConfigError(f"features.category_labels: {name!r} is not categorical")
        known = {str(v) for v in feature.wire_values} | set(feature.categories)
        unknown = sorted(set(labels) - known)
        if unknown:
            raise ConfigError(
                f"features.category_labels.{name}: {unknown} are not among its categories "
                f"{feature.categories}"
            )
