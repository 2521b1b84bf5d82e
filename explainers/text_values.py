"""Parameter values given as text (a query string, ``--param key=value``, an environment
variable), read by the type of the parameter they are for.

A parameter that takes text keeps the text as it is: ``desired_class=1`` is the class named
``"1"``, not the number 1. Any other parameter reads the text as JSON when it is JSON
(``total=5``, ``keep_invalid=true``, ``desired_range=[100,200]``) and keeps it otherwise, for
the parameter's own validation to read (``features_to_vary=age,hours-per-week``) or refuse.
"""

from __future__ import annotations

import json
import types
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin


def read_text(annotation: Any, text: str) -> Any:
    """``text`` as a value for a parameter annotated ``annotation``."""
    if takes_text(annotation, text):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than it reads
        return text


def takes_text(annotation: Any, text: str) -> bool:
    """Whether a parameter annotated ``annotation`` takes ``text`` as text: a string type
    (``str``, a ``StrEnum``, a path) anywhere in it, or a ``Literal`` that lists ``text``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return takes_text(get_args(annotation)[0], text)
    if origin is Union or origin is types.UnionType:
        return any(takes_text(member, text) for member in get_args(annotation))
    if origin is Literal:
        return text in get_args(annotation)
    return isinstance(annotation, type) and issubclass(annotation, str | PurePath)


def takes_bool(annotation: Any) -> bool:
    """Whether a parameter annotated ``annotation`` takes true/false: ``bool`` (or ``Any``)
    anywhere in it, or a ``Literal`` that lists a boolean. A number does not: JSON's ``true``
    for a threshold is a mistake, not 1.0."""
    origin = get_origin(annotation)
    if annotation is Any or annotation is bool:
        return True
    if origin is Annotated:
        return takes_bool(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = [m for m in get_args(annotation) if m is not type(None)]
        return any(takes_bool(member) for member in members)
    if origin is Literal:
        return any(isinstance(value, bool) for value in get_args(annotation))
    return not (isinstance(annotation, type) and issubclass(annotation, int | float))
