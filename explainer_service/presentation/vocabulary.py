"""The words pages use for the model's classes, features and categories (config
``model.class_labels``, ``features.labels``, ``features.category_labels``), falling back to
the model's own names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from explainer_service.presentation import formats

if TYPE_CHECKING:
    from explainers.schema import FeatureSchema

__all__ = ["Vocabulary"]


@dataclass(frozen=True)
class Vocabulary:
    """``classes``: class -> words ({">50K": "approved"}); ``features``: feature -> display
    name ({"hours-per-week": "hours worked per week"}); ``subject``: what a row is, and
    ``subjects`` more than one (config ``model.subject``, ``model.subject_plural``);
    ``categories``: feature -> category -> words ({"relationship": {"Not-in-family":
    "not in a family"}})."""

    classes: Mapping[str, str] = field(default_factory=dict)
    features: Mapping[str, str] = field(default_factory=dict)
    subject: str = "case"
    subjects: str = "cases"
    categories: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        schema: FeatureSchema,
        class_labels: Mapping[str, str],
        subject: str = "case",
        subjects: str | None = None,
        category_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Vocabulary:
        return cls(
            dict(class_labels),
            {f.name: f.display for f in schema.features},
            subject,
            subjects or f"{subject}s",
            {k: dict(v) for k, v in (category_labels or {}).items()},
        )

    def cls(self, name: str | None) -> str:
        """A class in words (its name when it has none); a dash for no class."""
        if name is None:
            return "—"
        return self.classes.get(name, name)

    def feature(self, name: str) -> str:
        return self.features.get(name, name)

    def category(self, feature: str, value: object) -> str:
        """A category of ``feature`` in words (as it is when it has none); a value that is
        not text (a number, a code) is looked up by its text."""
        text = str(value)
        return self.categories.get(feature, {}).get(text, text)

    def value(self, feature: str, value: object) -> str:
        """A feature's value as pages print it: a category in words, a number through
        ``formats.value``."""
        if isinstance(value, str) or feature in self.categories:
            return self.category(feature, value)
        return formats.value(value)

    def as_json(self) -> dict[str, object]:
        """What ``GET /vocabulary`` answers and the notebook client reads back (``of_json``)."""
        return {
            "subject": self.subject,
            "subjects": self.subjects,
            "classes": dict(self.classes),
            "features": dict(self.features),
            "categories": {k: dict(v) for k, v in self.categories.items()},
        }

    @classmethod
    def of_json(cls, data: Mapping[str, object]) -> Vocabulary:
        """The vocabulary ``as_json`` wrote; missing parts take their defaults."""

        def mapping(key: str) -> dict[str, object]:
            found = data.get(key)
            return dict(found) if isinstance(found, Mapping) else {}

        subject = str(data.get("subject") or "case")
        return cls(
            {str(k): str(v) for k, v in mapping("classes").items()},
            {str(k): str(v) for k, v in mapping("features").items()},
            subject,
            str(data.get("subjects") or f"{subject}s"),
            {
                str(f): {str(k): str(v) for k, v in dict(labels).items()}
                for f, labels in mapping("categories").items()
                if isinstance(labels, Mapping)
            },
        )
