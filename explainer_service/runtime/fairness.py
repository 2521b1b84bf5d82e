"""The protected attributes as the configuration sets them, and the check every explanation
of one row passes through (``explainers.fairness``)."""

from __future__ import annotations

import pandas as pd

from explainer_service.errors import ConfigError
from explainer_service.settings import Settings
from explainers import BlackBox, Budget, Explanation, FeatureSchema, SchemaError
from explainers.fairness import assess, protected_values
from explainers.wire import WireValue


class FairnessCheck:
    """``features.protected`` with the values the flip test sets each to (read from the
    reference data once), and ``fairness.shap_share``.

    Raises ``ConfigError`` when a protected attribute is no feature or a text, or when a
    flip test would send more than ``fairness.max_flip_rows`` rows."""

    def __init__(self, settings: Settings, schema: FeatureSchema, reference: pd.DataFrame) -> None:
        protected = settings.features.protected
        try:
            self.values: dict[str, list[WireValue]] = protected_values(schema, reference, protected)
        except SchemaError as exc:
            raise ConfigError(f"features.{exc}") from None
        #: the most rows a flip test sends: one per value, but the instance's own (a
        #: category it must hold, unless it may be one meaning 'unknown')
        self.max_rows = sum(
            len(values) - int(schema[name].is_categorical and not schema[name].missing)
            for name, values in self.values.items()
            if values
        )
        limit = settings.fairness.max_flip_rows
        if self.max_rows > limit:
            raise ConfigError(
                f"features.protected: a flip test may send {self.max_rows} rows, more than "
                f"fairness.max_flip_rows ({limit})"
            )
        self.schema = schema
        self.shap_threshold = settings.fairness.shap_share

    @property
    def key(self) -> dict[str, object]:
        """What the fairness block depends on, for the cache key."""
        return {"values": self.values, "shap_share": self.shap_threshold}

    def assess(self, explanation: Explanation, box: BlackBox, budget: Budget) -> Explanation:
        """``explanation`` with its fairness block and the flip test's cost (one call)."""
        return assess(
            explanation,
            self.schema,
            self.values,
            box,
            shap_threshold=self.shap_threshold,
            budget=budget,
        )
