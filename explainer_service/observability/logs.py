"""The service's log records: as text for people, or one JSON object per line for log
shippers (Fluentd, Elasticsearch, Kibana).

``--log-format json`` (or ``EXPLAINER_LOG_FORMAT=json``, which the worker processes
inherit) writes each record as ``{"time", "level", "logger", "message", "request_id", ...}``
plus the record's ``fields`` (``extra={"fields": {...}}``); an exception's traceback is a
field of the record that logged it, never a line of its own. Two kinds of records carry
fields: one per HTTP request (``event: request``: method, path without its query, status,
seconds) and one per finished explanation (``event: explanation``: id, method, model,
status, seconds, model calls, rows, its page). Neither carries payload values: a drill-down
link's query holds an applicant's data, so only the path is logged.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from explainer_service.observability.context import RequestIdFilter

FORMAT_ENV = "EXPLAINER_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s [request %(request_id)s]: %(message)s"

access = logging.getLogger("explainer_service.access")
explanations = logging.getLogger("explainer_service.explanations")


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **self.static,
            **getattr(record, "fields", {}),
        }
        if entry["request_id"] == "-":
            entry["request_id"] = None
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def chosen_format(value: str | None = None) -> str:
    """``value``, else ``EXPLAINER_LOG_FORMAT``, else text; an unknown one raises ValueError."""
    chosen = (value or os.environ.get(FORMAT_ENV) or "text").lower()
    if chosen not in FORMATS:
        raise ValueError(f"log format {chosen!r}: expected one of {', '.join(FORMATS)}")
    return chosen


def handler(
    log_format: str | None = None, text: str = TEXT, static: dict[str, Any] | None = None
) -> logging.Handler:
    """A stderr handler in the chosen format, every record with its request id."""

    stream = logging.StreamHandler()
    stream.addFilter(RequestIdFilter())
    if chosen_format(log_format) == "json":
        stream.setFormatter(JsonFormatter(static))
    else:
        stream.setFormatter(logging.Formatter(text))
    return stream


def request_done(method: str, path: str, status: int, seconds: float, request_id: str) -> None:
    """The one record of an HTTP request (health probes at DEBUG: they come every second)."""
    level = logging.DEBUG if path.startswith("/health/") else logging.INFO
    access.log(
        level,
        "%s %s %d %.3fs",
        method,
        path,
        status,
        seconds,
        extra={
            "fields": {
                "event": "request",
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "seconds": round(seconds, 6),
            }
        },
    )


def explanation_done(
    id: str,
    method: str,
    model: str,
    status: str,
    *,
    request_id: str | None = None,
    seconds: float | None = None,
    model_calls: int | None = None,
    rows: int | None = None,
    error: str | None = None,
) -> None:
    """The one record of a finished explanation (done or failed)."""
    fields: dict[str, Any] = {
        "event": "explanation",
        "request_id": request_id,
        "id": id,
        "method": method,
        "model": model,
        "status": status,
        "seconds": seconds,
        "model_calls": model_calls,
        "rows": rows,
        "url": f"/explanations/{id}",
    }
    if error is not None:
        fields["error"] = error
    explanations.info(
        "explanation %s %s %s%s",
        id,
        method,
        status,
        f" ({error})" if error else "",
        extra={"fields": fields},
    )
