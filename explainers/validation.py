"""pydantic's validation problems (``ValidationError.errors()``) in words.

One problem is ``{"loc": ("model", "url"), "msg": "...", ...}``; in words it is
``model.url: <msg>``, and many are joined by ``; ``. pydantic's ``Value error, `` prefix
(a validator's own ``ValueError``) is dropped: the validator's text says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_VALUE_ERROR = "Value error, "


def location(problem: Mapping[str, Any], skip: int = 0) -> str:
    """The dotted path of the value at fault (``model.url``, ``instances.0.age``), without
    its first ``skip`` parts (FastAPI's ``body`` or ``query``); "" for the whole object."""
    return ".".join(str(part) for part in tuple(problem["loc"])[skip:])


def problems_text(problems: Sequence[Mapping[str, Any]], *, skip: int = 0, whole: str = "") -> str:
    """Every problem as ``path: message``, joined by ``; ``. A problem with the whole object
    (no path left once ``skip`` parts are dropped) is named ``whole``; with ``whole`` empty
    it is its message alone."""
    texts = []
    for problem in problems:
        message = str(problem["msg"]).removeprefix(_VALUE_ERROR)
        where = location(problem, skip) or whole
        texts.append(f"{where}: {message}" if where else message)
    return "; ".join(texts)
