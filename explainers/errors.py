"""Errors raised by the explanation library.

The library knows nothing of HTTP; the service maps these to statuses in one place.

    ExplainerError                  an explainer or its configuration is at fault
     ├── ParameterError              a parameter the method does not accept
     │    └── UnknownMethodError         no explainer answers to that method's name
     ├── BudgetExceededError         an explanation would spend more than its budget allows
     ├── SchemaError                 a row does not fit the feature schema
     │    ├── MissingFeatureError
     │    ├── UnexpectedFeatureError
     │    ├── UnknownCategoryError
     │    └── InvalidValueError
     └── ModelOutputError            the model answered something the explainer cannot read

``ParameterError``, ``SchemaError`` and ``BudgetExceededError`` are the caller's to fix;
``ModelOutputError`` is the model's; any other ``ExplainerError`` (a configuration that
cannot be fitted, an engine that produced something it must not) is the explainer's own
fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from explainers.validation import location, problems_text

#: Longer reprs of a caller's value are cut in messages.
SHOWN_CHARS = 80


def escaped(text: str) -> str:
    """``text`` with each lone UTF-16 surrogate (``"\\ud800"`` in a caller's JSON) written as
    its escape, ``\\ud800``: UTF-8 cannot encode one, so a message holding it could not be
    sent."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def cut(text: str) -> str:
    """``text``, cut to ``SHOWN_CHARS`` characters and ``escaped``: a message repeats what a
    caller sent, and a caller may send megabytes or text UTF-8 cannot encode."""
    return escaped(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…")


def shown(value: Any) -> str:
    """``repr(value)``, cut (see ``cut``)."""
    try:
        return cut(repr(value))
    except ValueError:  # an integer with more digits than Python converts to text
        return f"<{type(value).__name__} too long to show>"


class ExplainerError(Exception):
    """Base of every error the library raises on purpose."""


class ParameterError(ExplainerError, ValueError):
    """A method or one of its parameters is wrong; ``field`` names the parameter."""

    def __init__(self, method: str, field: str, message: str) -> None:
        super().__init__(message)
        self.method = method
        self.field = field
        self.message = message

    @classmethod
    def from_validation(cls, method: str, error: Any) -> ParameterError:
        """From a pydantic ValidationError: the first problem, with every problem in the text."""
        problems = error.errors()
        first = location(problems[0]) or "parameters"
        text = problems_text(problems, whole="parameters")
        return cls(method, first, f"invalid parameters for {method}: {text}")


class UnknownMethodError(ParameterError):
    """No explainer answers to ``method`` (not installed, or not configured)."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(method, "method", message)


class BudgetExceededError(ExplainerError):
    """An explanation would spend more on the model than its budget allows.

    ``budget`` names the limit (``max_model_calls`` or ``max_rows``) and ``limit`` its value.
    Raised before the work starts when the estimate passes the limit (``estimated``; ``used``
    is then the estimate), or while it runs, before the call that would pass it (``used``:
    what was spent before that call). ``parameters`` are the method's parameters that drive
    the cost: the ones to lower.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str,
        limit: int,
        used: int,
        estimated: bool = False,
        parameters: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.budget = budget
        self.limit = limit
        self.used = used
        self.estimated = estimated
        self.parameters = list(parameters)


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
            f"unexpected feature(s): {', '.join(cut(u) for u in unexpected[:10])}; "
            f"expected: {', '.join(expected)}",
            feature=cut(unexpected[0]),
        )
        self.unexpected = list(unexpected)


class UnknownCategoryError(SchemaError):
    def __init__(self, feature: str, value: Any, valid: Sequence[Any]) -> None:
        super().__init__(
            f"unknown category {shown(value)} for feature {feature!r}; valid values: "
            + ", ".join(repr(v) for v in valid),
            feature=feature,
        )
        self.value = value
        self.valid = list(valid)


class InvalidValueError(SchemaError):
    def __init__(self, feature: str, value: Any, reason: str) -> None:
        super().__init__(
            f"invalid value {shown(value)} for feature {feature!r}: {reason}", feature=feature
        )
        self.value = value


class TextLimitError(SchemaError):
    """A text passes one of the limits of a text feature; ``limit`` names the setting
    (``max_text_chars``, ``max_text_tokens``) and ``maximum`` its value."""

    def __init__(self, feature: str, limit: str, maximum: int, size: int | None, unit: str) -> None:
        size_text = f"{size} {unit}" if size is not None else f"more than {maximum} {unit}"
        super().__init__(
            f"the text of feature {feature!r} has {size_text}; at most {maximum} are "
            f"explained (features.{limit})",
            feature=feature,
        )
        self.limit = limit
        self.maximum = maximum


class ModelOutputError(ExplainerError):
    """The model's answer cannot be what the explainer was told it is (a label that is not
    one of ``class_names``). ``message`` says so; ``str()`` adds what the model sent."""

    def __init__(self, message: str, sent: Any) -> None:
        super().__init__(f"{message}: {shown(sent)}")
        self.message = message
        self.sent = sent
