"""Errors raised by the explanation library.

The library knows nothing of HTTP; the service maps these to statuses in one place.

    ExplainerError
     └── SchemaError                 a row does not fit the feature schema
          ├── MissingFeatureError
          ├── UnexpectedFeatureError
          ├── UnknownCategoryError
          └── InvalidValueError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ExplainerError(Exception):
    """Base of every error the library raises on purpose."""


class SchemaError(ExplainerError, ValueError):
    """A row does not fit the feature schema; ``feature`` names the offending feature."""

    def __init__(self, message: str, *, feature: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.feature = feature


class MissingFeatureError(SchemaError):
    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(f"missing feature(s): {', '.join(missing)}", feature=missing[0])
        self.missing = list(missing)


class UnexpectedFeatureError(SchemaError):
    def __init__(self, unexpected: Sequence[str], expected: Sequence[str]) -> None:
        super().__init__(
            f"unexpected feature(s): {', '.join(unexpected)}; expected: {', '.join(expected)}",
            feature=unexpected[0],
        )
        self.unexpected = list(unexpected)


class UnknownCategoryError(SchemaError):
    def __init__(self, feature: str, value: Any, valid: Sequence[str]) -> None:
        super().__init__(
            f"unknown category {value!r} for feature {feature!r}; valid values: "
            + ", ".join(repr(v) for v in valid),
            feature=feature,
        )
        self.value = value
        self.valid = list(valid)


class InvalidValueError(SchemaError):
    def __init__(self, feature: str, value: Any, reason: str) -> None:
        super().__init__(
            f"invalid value {value!r} for feature {feature!r}: {reason}", feature=feature
        )
        self.value = value
