"""``features.category_labels`` checked against the feature schema at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from explainer_service.errors import ConfigError
from explainers.schema import FeatureSchema

log = logging.getLogger(__name__)


def check_category_labels(
    schema: FeatureSchema, category_labels: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Raises ``ConfigError`` naming a feature that is not categorical. A category the
    reference data does not hold (misspelt, or absent from this sample) is logged as a
    warning and answered, since its label would never show."""
    unused = []
    for name, labels in category_labels.items():
        if name not in schema.names:
            raise ConfigError(f"features.category_labels: {name!r} is not a feature")
        feature = schema[name]
        if not feature.is_categorical:
            raise ConfigError(f"features.category_labels: {name!r} is not categorical")
        known = {str(v) for v in feature.wire_values} | set(feature.categories)
        unused += [f"{name}.{category}" for category in sorted(set(labels) - known)]
    if unused:
        log.warning(
            "features.category_labels: %s are not among the reference data's categories",
            ", ".join(unused),
        )
    return unused
