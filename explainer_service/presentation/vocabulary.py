"""The words pages use for the model's classes and features (config ``model.class_labels``
and ``features.labels``), falling back to the model's own names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explainers.schema import FeatureSchema

__all__ = ["Vocabulary"]


@dataclass(frozen=True)
class Vocabulary:
    """``classes``: class -> words ({">50K": "approved"}); ``features``: feature -> display
    name ({"hours-per-week": "hours worked per week"}); ``subject``: what a row is, and
    ``subjects`` more than one (config ``model.subject``, ``model.subject_plural``)."""

    classes: Mapping[str, str] = field(default_factory=dict)
    features: Mapping[str, str] = field(default_factory=dict)
    subject: str = "case"
    subjects: str = "cases"

    @classmethod
    def of(
        cls,
        schema: FeatureSchema,
        class_labels: Mapping[str, str],
        subject: str = "case",
        subjects: str | None = None,
    ) -> Vocabulary:
        return cls(
            dict(class_labels),
            {f.name: f.display for f in schema.features},
            subject,
            subjects or f"{subject}s",
        )

    def cls(self, name: str | None) -> str:
        """A class in words (its name when it has none); a dash for no class."""
        if name is None:
            return "—"
        return self.classes.get(name, name)

    def feature(self, name: str) -> str:
        return self.features.get(name, name)
