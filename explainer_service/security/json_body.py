"""JSON bodies read within limits: a caller's body is parsed once, and refused when it is
not JSON or nests deeper than the decoders that read it may recurse."""

from __future__ import annotations

import json
from typing import Any

from explainer_service.errors import MalformedJsonError, PayloadError

#: The default of ``service.max_json_depth`` (a v2 tensor's data nests about 5 deep).
MAX_JSON_DEPTH = 32


def parse_json(text: str | bytes, what: str = "the body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of ``text``; 400 when it is not JSON, 422 when it nests deeper than
    ``max_depth`` (the decoders that read it recurse)."""
    if not text:
        raise PayloadError(f"{what} is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJsonError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise MalformedJsonError(f"{what} is not UTF-8 text") from None
    except ValueError as exc:  # an integer of more digits than Python reads (4300)
        raise PayloadError(f"{what} holds a number that cannot be read: {exc}") from None
    except RecursionError:
        value = None  # deeper than the parser goes: certainly deeper than allowed
    else:
        if _depth(value, max_depth) <= max_depth:
            return value
    raise PayloadError(f"{what} nests deeper than {max_depth} levels (service.max_json_depth)")


def _depth(value: Any, limit: int) -> int:
    """How deep arrays and objects nest in ``value``, up to ``limit`` + 1 (iterative: no
    recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest
