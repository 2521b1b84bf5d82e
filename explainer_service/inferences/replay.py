"""Logged events from a file into the inference log, as ``POST /inferences`` keeps them.

Each line of the file is one JSON value:

- a CloudEvent in structured mode (``{"specversion", "id", "type", "source", ...,
  "data" | "data_base64"}``), as a sink that writes events to a file keeps them;
- a record of KServe's blob-storage logger (``logger.storage``, JSON marshaller): a
  ``LogRequest`` object (``id``, ``reqType``, ``inferenceService``, ``namespace``,
  ``component``, ``endpoint``, ``metadata``, ``contentType``, ``occurrenceTime`` and the
  logged body base64-encoded in ``bytes``), or an array of them (one object of the store).

Every event goes through the sink's own reading (``events.parse_event``) and ``Ingest``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from explainer_service.errors import BodyTooLargeError, ExplainerServiceError, problem_of
from explainer_service.inferences.events import STRUCTURED, parse_event
from explainer_service.inferences.ingest import Ingest
from explainer_service.security.json_body import parse_json

#: How many refused lines a report keeps (the count has them all).
KEPT_PROBLEMS = 20


@dataclass
class Report:
    """What a replay did: events by outcome (``refused`` for those that could not be
    kept), and the first refused lines with why."""

    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(self.outcomes.values())

    def refuse(self, line: int, why: str) -> None:
        self.outcomes["refused"] += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(f"line {line}: {why}")

    def text(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        return f"{self.events} events: {counts or 'none'}"


def kserve_record_event(record: dict[str, Any]) -> dict[str, Any]:
    """A KServe blob-storage ``LogRequest`` as a structured-mode CloudEvent."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": record.get("id"),
        "type": record.get("reqType"),
        "source": record.get("sourceUri") or "kserve-logger-storage",
        "inferenceservicename": record.get("inferenceService"),
        "namespace": record.get("namespace"),
        "component": record.get("component"),
        "endpoint": record.get("endpoint"),
        "metadata": record.get("metadata") or {},
        "datacontenttype": record.get("contentType") or "application/json",
        "data_base64": record.get("bytes"),
    }
    if record.get("occurrenceTime"):
        event["time"] = record["occurrenceTime"]
    return {key: value for key, value in event.items() if value is not None}


def replay(
    lines: Iterable[str | bytes],
    ingest: Ingest,
    *,
    max_bytes: int,
    max_depth: int,
    on_event: Callable[[], None] | None = None,
) -> Report:
    """Keep each line's event(s); a line that cannot be read or kept is counted as
    ``refused`` (with why) and the rest go on. ``StoreError`` stops it."""
    report = Report()
    headers = {"content-type": STRUCTURED}
    for number, line in enumerate(lines, start=1):
        raw = line.encode() if isinstance(line, str) else line
        if not raw.strip():
            continue
        try:
            if len(raw) > max_bytes:
                raise BodyTooLargeError(max_bytes)
            value = parse_json(raw, "the line", max_depth)
            items = value if isinstance(value, list) else [value]
            events = [
                kserve_record_event(item) if isinstance(item, dict) and "reqType" in item else item
                for item in items
            ]
        except ExplainerServiceError as exc:
            report.refuse(number, problem_of(exc).message)
            continue
        for event in events:
            try:
                body = json.dumps(event).encode()
                done = ingest(parse_event(headers, body, max_bytes=max_bytes, max_depth=max_depth))
            except ExplainerServiceError as exc:
                if problem_of(exc).status >= 500:
                    raise
                report.refuse(number, problem_of(exc).message)
            else:
                report.outcomes[done.outcome] += 1
            if on_event is not None:
                on_event()
    return report
