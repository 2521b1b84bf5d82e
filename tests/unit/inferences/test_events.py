"""Reading the loggers' CloudEvents: both loggers, both modes, gzip with and without its
header, and each malformed attribute refused naming it."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from cloudevents.core.bindings.http import HTTPMessage

from explainer_service.errors import (
    BodyTooLargeError,
    EventError,
    MalformedJsonError,
    PayloadError,
    UnsupportedEncodingError,
)
from explainer_service.inferences.events import Kind, Source, gunzip, parse_event
from tests.helpers.logger_events import kserve_event, message, seldon_event, v2_request

ROW = [39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical", "Not-in-family",
       "White", "Male", 2174, 0, 40]  # fmt: skip
BODY = v2_request([ROW])
LIMIT = 1 << 20


def parse(made: HTTPMessage, max_bytes: int = LIMIT) -> object:
    return parse_event(made.headers, made.body, max_bytes=max_bytes, max_depth=32)


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize("gzipped", [False, True])
def test_kserve_events_are_read_in_both_modes_gzipped_or_not(mode, gzipped) -> None:
    metadata = {"X-Tenant": ["bank-a"], "Authorization": ["Bearer x"]}
    event = kserve_event("request", BODY, "req-1", metadata=metadata)
    read = parse(message(event, mode, gzipped=gzipped))
    assert read.source is Source.kserve and read.kind is Kind.request
    assert read.key == read.event_id == "req-1"
    assert read.models == ("income",)
    assert (read.component, read.endpoint, read.namespace) == ("predictor", "default", "default")
    assert read.metadata == metadata  # all of it: Ingest keeps the allowed headers
    assert read.data == BODY
    assert read.time is not None and read.time.startswith(str(event.get_time().year))


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_seldon_events_join_by_request_id_not_by_their_own_id(mode) -> None:
    event = seldon_event("response", {"data": {"ndarray": [[0.2, 0.8]]}}, "puid-7")
    read = parse(message(event, mode))
    assert read.source is Source.seldon and read.kind is Kind.response
    assert read.key == "puid-7" and read.event_id != "puid-7"
    assert read.models == ("income", "income-sdep")
    assert read.protocol == "seldon"
    feedback = parse(message(seldon_event("feedback", {"reward": 1}, "puid-7"), mode))
    assert feedback.kind is Kind.feedback and feedback.data is None


def test_the_gzip_header_alone_does_not_make_a_plain_body_unreadable() -> None:
    made = message(kserve_event("request", BODY, "e"))
    headers = {**made.headers, "Content-Encoding": "gzip"}
    assert parse(HTTPMessage(headers, made.body)).data == BODY
    headers["Content-Encoding"] = "br"
    with pytest.raises(UnsupportedEncodingError):
        parse(HTTPMessage(headers, made.body))


def test_gzip_is_inflated_no_further_than_the_limit() -> None:
    bomb = gzip.compress(b"[" + b"0," * 500_000 + b"0]")
    assert len(bomb) < 5_000
    with pytest.raises(BodyTooLargeError):
        gunzip(bomb, 100_000)
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    with pytest.raises(EventError, match="cut short"):
        gunzip(gzip.compress(b"x" * 1000)[:20], 10_000)
    with pytest.raises(EventError, match="not"):
        gunzip(b"\x1f\x8b" + b"garbage" * 10, 10_000)
    assert gunzip(zlib.compress(b"plain"), 100) == zlib.compress(b"plain")  # not gzip: as is


def _without(made: HTTPMessage, header: str) -> HTTPMessage:
    return HTTPMessage({k: v for k, v in made.headers.items() if k != header}, made.body)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: _without(m, "ce-source"), "source"),
        (lambda m: _without(m, "ce-id"), "id"),
        (lambda m: _without(m, "ce-inferenceservicename"), "inferenceservicename"),
        (lambda m: HTTPMessage({**m.headers, "ce-type": "com.example.other"}, m.body), "type"),
        (lambda m: HTTPMessage({**m.headers, "ce-time": "yesterday"}, m.body), "time"),
        (lambda m: HTTPMessage({**m.headers, "ce-metadata": "{not json"}, m.body), "metadata"),
        (lambda m: HTTPMessage({**m.headers, "ce-metadata": "[1]"}, m.body), "metadata"),
        (lambda m: HTTPMessage({**m.headers, "ce-specversion": "0.2"}, m.body), "specversion"),
        (lambda m: HTTPMessage({**m.headers, "ce-id": "x" * 300}, m.body), "id"),
        (lambda m: HTTPMessage({"content-type": "application/json"}, m.body), "Content-Type"),
        (lambda m: HTTPMessage(m.headers, b""), "data"),
    ],
)
def test_a_malformed_attribute_is_refused_naming_it(change, field) -> None:
    made = change(message(kserve_event("request", BODY, "e")))
    with pytest.raises(EventError) as refused:
        parse(made)
    assert refused.value.field == field, refused.value.message


def test_an_event_without_a_time_has_none() -> None:
    made = message(kserve_event("request", BODY, "e"))
    assert parse(_without(made, "ce-time")).time is None


def test_a_seldon_event_without_its_request_id_is_refused() -> None:
    made = message(seldon_event("request", BODY, "p"))
    with pytest.raises(EventError) as refused:
        parse(_without(made, "ce-requestid"))
    assert refused.value.field == "requestid"


def test_bodies_that_are_not_json_or_nest_too_deep_are_refused() -> None:
    made = message(kserve_event("request", BODY, "e"))
    with pytest.raises(MalformedJsonError):
        parse(HTTPMessage(made.headers, b"{nope"))
    with pytest.raises(PayloadError, match="deeper"):
        parse(HTTPMessage(made.headers, b"[" * 40 + b"]" * 40))
    structured = message(kserve_event("request", BODY, "e"), "structured")
    with pytest.raises(EventError, match="JSON object"):
        parse(HTTPMessage(structured.headers, json.dumps([1]).encode()))
    with pytest.raises(MalformedJsonError):
        parse(HTTPMessage(structured.headers, b"{"))


def test_go_nanosecond_times_and_raw_json_metadata_are_read() -> None:
    """KServe's agent is Go: its times carry nanoseconds, its metadata is JSON as it is."""
    made = message(kserve_event("request", BODY, "e"))
    headers = {
        **made.headers,
        "ce-time": "2026-12-06T10:00:00.123456789Z",
        "ce-metadata": '{"X-Tenant":["bank-a"]}',
    }
    read = parse(HTTPMessage(headers, made.body))
    assert read.time == "2026-12-06T10:00:00.123456+00:00"
    assert read.metadata == {"X-Tenant": ["bank-a"]}
