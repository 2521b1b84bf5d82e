"""The request loggers' CloudEvents, read from an HTTP request.

Two loggers are understood, in CloudEvents 1.0 binary mode (attributes in ``Ce-*``
headers, the logged body as the HTTP body) and structured mode
(``application/cloudevents+json``: attributes and data in one JSON body):

- **KServe's agent**: ``type`` ``org.kubeflow.serving.inference.request|response``; ``id``
  is the request's id, the same on both events (the join key); ``inferenceservicename``,
  ``namespace``, ``component`` (``predictor``, ``transformer``, ``explainer``), ``endpoint``,
  ``metadata`` (JSON of the whitelisted request headers, name -> values).
- **Seldon Core v1's executor**: ``type`` ``io.seldon.serving.inference.request|response``
  and ``io.seldon.serving.feedback``; ``id`` is new on every event, ``requestid`` (the
  ``Seldon-Puid``) is the join key; ``modelid`` (the graph's node), ``inferenceservicename``
  (the SeldonDeployment), ``namespace``, ``endpoint`` (the predictor), ``protocol``.

A body that starts with gzip's magic bytes is decompressed whether or not
``Content-Encoding`` says so (Knative may drop the header), to at most ``max_bytes``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat

from explainer_service.errors import BodyTooLargeError, EventError, UnsupportedEncodingError
from explainer_service.security.json_body import parse_json

#: The first bytes of every gzip stream.
GZIP_MAGIC = b"\x1f\x8b"
#: Join keys longer than this are refused: they become inference ids and URLs.
MAX_KEY_CHARS = 256
STRUCTURED = "application/cloudevents+json"


class Source(StrEnum):
    """Which logger sent an event."""

    kserve = "kserve"
    seldon = "seldon"


class Kind(StrEnum):
    """What an event carries."""

    request = "request"
    response = "response"
    feedback = "feedback"  # Seldon's: dropped and counted


#: ``type`` -> (logger, what it carries)
TYPES: dict[str, tuple[Source, Kind]] = {
    "org.kubeflow.serving.inference.request": (Source.kserve, Kind.request),
    "org.kubeflow.serving.inference.response": (Source.kserve, Kind.response),
    "io.seldon.serving.inference.request": (Source.seldon, Kind.request),
    "io.seldon.serving.inference.response": (Source.seldon, Kind.response),
    "io.seldon.serving.feedback": (Source.seldon, Kind.feedback),
}


@dataclass(frozen=True)
class LoggerEvent:
    """One logger's event, its attributes read; ``data`` is the logged body (JSON)."""

    source: Source
    kind: Kind
    #: the join key: KServe's ``id``, Seldon's ``requestid``
    key: str
    #: the event's own ``id``
    event_id: str
    #: the names it is logged under, first the one the inference is stored with:
    #: KServe's InferenceService; Seldon's node (``modelid``), then its SeldonDeployment
    models: tuple[str, ...]
    data: Any
    namespace: str | None = None
    endpoint: str | None = None
    component: str | None = None
    protocol: str | None = None
    #: the event's ``time`` (ISO 8601), when the logger said
    time: str | None = None
    #: KServe's ``metadata``: request header -> its values, as the logger sent them
    metadata: dict[str, list[str]] = field(default_factory=dict)


class _RawData(JSONFormat):
    """JSON format, but binary mode's body stays bytes: it is parsed with the sink's
    limits (``parse_json``), not by the SDK."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


_FORMAT = _RawData()


def parse_event(
    headers: Mapping[str, str], body: bytes, *, max_bytes: int, max_depth: int
) -> LoggerEvent:
    """The event of one HTTP request (``headers`` with lower- or mixed-case names).

    Raises ``EventError`` (400) for a missing or wrong attribute or an unknown type,
    ``UnsupportedEncodingError`` (415) for a ``Content-Encoding`` other than gzip,
    ``MalformedJsonError`` / ``PayloadError`` for a body that is not JSON or nests deeper
    than ``max_depth``, ``BodyTooLargeError`` for one that inflates past ``max_bytes``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    encoding = lowered.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise UnsupportedEncodingError(encoding)  # 415, as on every other route
    body = gunzip(body, max_bytes)
    wanted = {k: v for k, v in lowered.items() if k.startswith("ce-") or k == "content-type"}
    if not any(k.startswith("ce-") for k in wanted):
        media = wanted.get("content-type", "").split(";")[0].strip().lower()
        if media != STRUCTURED:
            raise EventError(
                "not a CloudEvent: no Ce-* headers (binary mode) and the Content-Type is "
                f"not {STRUCTURED} (structured mode)",
                field="Content-Type",
            )
        structured = parse_json(body, "the event", max_depth)
        if not isinstance(structured, dict):
            raise EventError(f"an {STRUCTURED} body must be a JSON object", field="body")
        given = set(structured)
        _check_time(structured.get("time"))
    else:
        given = {name.removeprefix("ce-") for name in wanted}
        _check_time(wanted.get("ce-time"))
    event = _sdk_event(wanted, body)
    # the SDK makes up an id and a time for an event without: a logger's must have an id
    if "id" not in given:
        raise EventError("the event has no 'id' attribute (Ce-Id)", field="id")
    return _logger_event(event, max_bytes, max_depth, timed="time" in given)


def _sdk_event(headers: dict[str, str], body: bytes) -> BaseCloudEvent:
    try:
        return from_http(HTTPMessage(headers, body), _FORMAT)
    except CloudEventValidationError as exc:
        name = next(iter(exc.errors), None)
        problems = "; ".join(str(errors[0]) for errors in exc.errors.values() if errors)
        raise EventError(f"not a CloudEvent 1.0: {problems}", field=name) from None
    except (BaseCloudEventException, ValueError, TypeError, OverflowError) as exc:
        # a ``time`` that is no RFC 3339 time, data_base64 that is not base64, bad UTF-8
        raise EventError(f"the event cannot be read: {exc}", field=_culprit(exc)) from None


def _check_time(value: Any) -> None:
    """An RFC 3339 ``time``, when there is one (the SDK's own complaint does not name it)."""
    if value is None:
        return
    try:
        datetime.fromisoformat(unquote(str(value)))
    except ValueError:
        raise EventError(f"'time' is not an RFC 3339 time: {value!r}", field="time") from None


def _culprit(exc: Exception) -> str:
    text = str(exc).lower()
    for name in ("time", "data_base64", "specversion"):
        if name in text:
            return name
    return "body"


def _logger_event(
    event: BaseCloudEvent, max_bytes: int, max_depth: int, *, timed: bool
) -> LoggerEvent:
    attributes = event.get_attributes()
    kind_of = TYPES.get(str(attributes.get("type")))
    if kind_of is None:
        raise EventError(
            f"unknown event type {attributes.get('type')!r}; the sink takes {', '.join(TYPES)}",
            field="type",
        )
    source, kind = kind_of
    event_id = str(attributes["id"])
    models: tuple[str, ...]
    if source is Source.kserve:
        key = _key(event_id, "id")
        models = (_required(attributes, "inferenceservicename"),)
        metadata = _metadata(attributes.get("metadata"))
    else:
        key = _key(_required(attributes, "requestid"), "requestid")
        named = (_text(attributes.get("modelid")), _text(attributes.get("inferenceservicename")))
        models = tuple(name for name in named if name)
        if not models:
            raise EventError(
                "a Seldon event needs modelid or inferenceservicename", field="modelid"
            )
        metadata = {}
    time = attributes.get("time") if timed else None
    data = event.get_data()
    return LoggerEvent(
        source=source,
        kind=kind,
        key=key,
        event_id=event_id,
        models=models,
        data=None if kind is Kind.feedback else _data(data, max_bytes, max_depth),
        namespace=_text(attributes.get("namespace")),
        endpoint=_text(attributes.get("endpoint")),
        component=_text(attributes.get("component")),
        protocol=_text(attributes.get("protocol")),
        time=time.isoformat() if isinstance(time, datetime) else _text(time),
        metadata=metadata,
    )


def _text(value: Any) -> str | None:
    """An optional attribute as text (structured mode may carry numbers)."""
    if value is None or value == "":
        return None
    return str(value)


def _required(attributes: Mapping[str, Any], name: str) -> str:
    value = _text(attributes.get(name))
    if value is None:
        raise EventError(f"the event has no {name!r} attribute (Ce-{name.title()})", field=name)
    return value


def _key(value: str, name: str) -> str:
    if len(value) > MAX_KEY_CHARS or not value.isprintable():
        raise EventError(
            f"{name!r} must be at most {MAX_KEY_CHARS} printable characters", field=name
        )
    return value


def _metadata(value: Any) -> dict[str, list[str]]:
    """KServe's ``metadata``: JSON of header -> values (an object already, in structured
    mode)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise EventError("'metadata' is not JSON", field="metadata") from None
    if not isinstance(value, dict):
        raise EventError("'metadata' must be a JSON object of header -> values", field="metadata")
    out: dict[str, list[str]] = {}
    for name, values in value.items():
        listed = values if isinstance(values, list) else [values]
        out[str(name)] = [str(v) for v in listed]
    return out


def _data(data: Any, max_bytes: int, max_depth: int) -> Any:
    """The logged body as JSON: bytes (binary mode, ``data_base64``) and text are parsed;
    structured mode's ``data`` is JSON already."""
    if data is None or data == b"" or data == "":
        raise EventError("the event carries no data (the logged body)", field="data")
    if isinstance(data, bytes):
        return parse_json(gunzip(data, max_bytes), "the event's data", max_depth)
    if isinstance(data, str):
        return parse_json(data.encode(), "the event's data", max_depth)
    return data


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """``body`` decompressed when it starts with gzip's magic bytes (each member of a
    multi-member stream), else as it is. Raises ``BodyTooLargeError`` once the output
    passes ``max_bytes``, before more is inflated; ``EventError`` for a broken stream."""
    if not body.startswith(GZIP_MAGIC):
        return body
    out = bytearray()
    rest = body
    try:
        while rest.startswith(GZIP_MAGIC):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += inflater.decompress(rest, max_bytes + 1 - len(out))
            if len(out) > max_bytes or inflater.unconsumed_tail:
                raise BodyTooLargeError(max_bytes)
            if not inflater.eof:
                raise EventError("the gzip body is cut short", field="body")
            rest = inflater.unused_data
    except zlib.error as exc:
        raise EventError(f"the body starts as gzip but is not: {exc}", field="body") from None
    if rest.strip(b"\0"):
        raise EventError("the gzip body is followed by other bytes", field="body")
    return bytes(out)


def describe(event: LoggerEvent) -> str:
    """One line for logs (no data)."""
    return f"{event.source} {event.kind} {event.key!r} of {'/'.join(event.models)}"


__all__ = [
    "GZIP_MAGIC",
    "TYPES",
    "Kind",
    "LoggerEvent",
    "Source",
    "describe",
    "gunzip",
    "parse_event",
]
