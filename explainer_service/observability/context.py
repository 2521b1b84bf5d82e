"""The request context: the id of the request being handled and the caller's W3C
``traceparent``, in context variables.

A leaf: it imports nothing of the service's, so every layer may ask for the current id
(``current()``: error bodies, log records through ``RequestIdFilter``) and forward both to
the model (``forwarded()``). ``observability.access_log`` sets them for each HTTP request;
a worker sets them for the task it runs (``bound``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
#: W3C Trace Context: forwarded to the model as the caller sent it, when well formed
TRACEPARENT = "traceparent"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")
TRACEPARENT_FORM = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)
_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)


def current() -> str | None:
    """The id of the request being handled, or None outside one."""
    return _current.get()


def current_traceparent() -> str | None:
    """The caller's ``traceparent`` header of the request being handled, if well formed."""
    return _traceparent.get()


def forwarded() -> dict[str, str]:
    """The headers every call to the model carries for the current request: its id and the
    caller's ``traceparent`` (an allow-list: nothing else of the caller's reaches the model)."""
    headers = {}
    if (value := _current.get()) is not None:
        headers[HEADER] = value
    if (parent := _traceparent.get()) is not None:
        headers[TRACEPARENT] = parent
    return headers


@contextmanager
def bound(value: str | None, traceparent: str | None = None) -> Iterator[None]:
    """``current()`` is ``value`` and ``current_traceparent()`` is ``traceparent`` inside
    (a request being handled, or a worker running its task)."""
    token = _current.set(value)
    parent = _traceparent.set(traceparent)
    try:
        yield
    finally:
        _traceparent.reset(parent)
        _current.reset(token)


def new_id() -> str:
    return secrets.token_hex(8)


def accepted(value: str | None) -> str | None:
    """``value`` when it may be used as a request id as it is (it reaches logs and headers)."""
    return value if value is not None and _SAFE.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute (``-`` outside a request), for formats
    such as ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
