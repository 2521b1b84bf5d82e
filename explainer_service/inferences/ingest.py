"""A logger's event into the inference log: decoded by the configured codec, kept in the store.

A request event's body is decoded as the model's protocol decodes a request (the rows of
the features the schema knows, in its order; nothing else of the body is kept); a
response event's as the model's answer, read as the configured output promises
(``model_client.scores.interpret``). One row of an event is the inference ``KEY``; the
rows of an event of ``n > 1`` rows are ``KEY/0`` ... ``KEY/n-1`` (``store.inferences``).

Dropped, and counted, before anything is decoded: Seldon's feedback, the explainers' own
calls to the model (``Seldon-Skip-Logging: true`` in KServe's metadata), the events of a
KServe component not in ``inference_log.components`` (the explainer's always), and those
of other models than ``inference_log.models`` (default: ``model.name``). Of KServe's metadata only
the headers ``inference_log.metadata`` names are kept.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explainer_service.errors import (
    CodecError,
    PayloadError,
    RowCountConflictError,
    TooManyRowsError,
)
from explainer_service.inferences.events import Kind, LoggerEvent, Source
from explainer_service.model_client.client import SKIP_LOGGING_HEADER
from explainer_service.model_client.codecs.base import native
from explainer_service.model_client.scores import interpret
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.store import Store
from explainer_service.store.inferences import Inference, Logged, LoggedSide
from explainers.errors import ModelOutputError
from explainers.model import OutputKind

#: The header the explainers' own calls to the model carry.
SKIP_LOGGING = SKIP_LOGGING_HEADER.lower()
#: What writing a row did, as the metrics and the sink's answer name it.
ROW_OUTCOMES = {
    Logged.new: "stored",
    Logged.joined: "joined",
    Logged.duplicate: "duplicate",
    Logged.conflict: "conflict",
}
#: Of an event's rows' outcomes, the one that names the event (the first present).
PRECEDENCE = ("conflict", "joined", "stored", "duplicate")

OnLogged = Callable[[list[Inference]], None]

log = logging.getLogger("explainer_service")


@dataclass
class Ingested:
    """What one event did: ``outcome`` is ``stored``, ``joined``, ``duplicate``,
    ``conflict`` (its rows' outcomes, the first of ``PRECEDENCE`` present) or
    ``dropped_component``, ``dropped_model``, ``dropped_feedback``, ``dropped_synthetic``."""

    source: str
    type: str
    key: str
    outcome: str
    #: the model it is logged under (the first of the event's names that is configured)
    model: str | None = None
    #: each row's inference id, in row order
    ids: list[str] = field(default_factory=list)
    #: row outcome -> how many
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        return not self.outcome.startswith("dropped")


class Ingest:
    """Turns ``LoggerEvent``s into rows of the store's inference log (blocking: call it
    from a thread). ``on_logged`` is called after each event, in the calling thread, with
    the inferences it created or completed, as stored (the explanation policy's way in;
    it may be set after construction, and should hand work on rather than do it): what it
    raises is logged, and the event stays kept. ``metrics`` counts each event and its
    rows."""

    def __init__(
        self,
        runtime: Runtime,
        store: Store,
        *,
        metrics: Metrics | None = None,
        on_logged: OnLogged | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.metrics = metrics
        self.on_logged = on_logged
        settings = runtime.settings
        self.log_settings = settings.inference_log
        self.models = self.log_settings.models or [settings.model.name]
        self._metadata = {name.lower() for name in self.log_settings.metadata}

    def __call__(self, event: LoggerEvent) -> Ingested:
        """Keep ``event`` (or drop it). Raises ``PayloadError`` (422) for a body the codec
        cannot read, ``TooManyRowsError`` (413), ``RowCountConflictError`` (409),
        ``StoreError`` (503); the metrics count it as ``refused`` then (not the store's)."""
        try:
            ingested = self._ingest(event)
        except (PayloadError, TooManyRowsError, RowCountConflictError):
            self.count(event.source, event.kind, "refused")
            raise
        self.count(event.source, event.kind, ingested.outcome, ingested.rows)
        return ingested

    def count(
        self, source: str, kind: str, outcome: str, rows: dict[str, int] | None = None
    ) -> None:
        if self.metrics is not None:
            self.metrics.inference_event(source, kind, outcome, rows)

    def _ingest(self, event: LoggerEvent) -> Ingested:
        def result(outcome: str, model: str | None = None) -> Ingested:
            return Ingested(event.source, event.kind, event.key, outcome, model)

        if event.kind is Kind.feedback:
            return result("dropped_feedback")
        if _synthetic(event):
            return result("dropped_synthetic")
        if event.component == "explainer" or (
            event.component and event.component not in self.log_settings.components
        ):
            return result("dropped_component")
        model = next((name for name in event.models if name in self.models), None)
        if model is None:
            return result("dropped_model")
        sides = self.sides(event, model)
        self._check_row_count(event.key, len(sides))
        outcomes = self.store.log_inferences(sides)
        rows = Counter(ROW_OUTCOMES[outcome] for outcome in outcomes)
        ingested = result(next(name for name in PRECEDENCE if rows[name]), model)
        ingested.ids = [side.id for side in sides]
        ingested.rows = dict(rows)
        if self.on_logged is not None:
            changed = [
                side.id
                for side, outcome in zip(sides, outcomes, strict=True)
                if outcome in (Logged.new, Logged.joined)
            ]
            logged = [found for id in changed if (found := self.store.inference(id))]
            if logged:
                try:
                    self.on_logged(logged)
                except Exception:  # the policy's fault, not the logger's: its rows are kept
                    log.exception("on_logged failed for %d logged inferences", len(logged))
        return ingested

    def sides(self, event: LoggerEvent, model: str) -> list[LoggedSide]:
        """The event's rows as sides of inferences (nothing written)."""
        protocol = event.protocol or str(self.runtime.settings.model.protocol)
        common: dict[str, Any] = {
            "event_id": event.key,
            "side": str(event.kind),
            "source": str(event.source),
            "model": model,
            "endpoint": event.endpoint,
            "component": event.component,
            "namespace": event.namespace,
            "protocol": protocol,
            "at": event.time,
            "metadata": self._kept_metadata(event),
        }
        if event.kind is Kind.request:
            rows = self._request_rows(event.data)
            n = len(rows)
            return [
                LoggedSide(
                    id=_id(event.key, i, n), row_index=i, row_count=n, instance=row, **common
                )
                for i, row in enumerate(rows)
            ]
        answers = self._answers(event.data)
        n = len(answers)
        return [
            LoggedSide(
                id=_id(event.key, i, n),
                row_index=i,
                row_count=n,
                answer=answer,
                label=label,
                score=score,
                **common,
            )
            for i, (answer, label, score) in enumerate(answers)
        ]

    def _kept_metadata(self, event: LoggerEvent) -> dict[str, Any]:
        return {
            name: values
            for name, values in event.metadata.items()
            if name.lower() in self._metadata
        }

    def _limit(self, n: int) -> None:
        limit = self.log_settings.max_rows_per_event
        if n > limit:
            raise TooManyRowsError(n, limit)
        if n == 0:
            raise PayloadError("the logged body holds no rows", field="data")

    def _request_rows(self, data: Any) -> list[list[Any]]:
        protocol = self.runtime.settings.model.protocol
        try:
            rows = self.runtime.model.codec.decode_request(data)
        except CodecError as exc:
            raise PayloadError(
                f"the logged request is not a {protocol} payload: {exc.message}", field=exc.field
            ) from None
        self._limit(len(rows))
        return rows

    def _answers(self, data: Any) -> list[tuple[dict[str, Any], str | None, float | None]]:
        """Each row's answer, label and score (see ``store.inferences.LoggedSide``)."""
        settings, class_names = self.runtime.settings.model, self.runtime.class_names
        try:
            array = self.runtime.model.codec.decode_response(data)
            n = int(array.shape[0]) if array.ndim else 0
            self._limit(n)
            scores = interpret(
                array,
                settings.output,
                n,
                len(class_names) if class_names else None,
                settings.probability_tolerance,
            )
        except CodecError as exc:
            raise PayloadError(
                f"the logged response is not a {settings.protocol} answer of "
                f"{settings.output}: {exc.message}",
                field=exc.field,
            ) from None
        except ModelOutputError as exc:  # the logger's input: a 4xx, never the model's 502
            raise PayloadError(f"the logged response: {exc.message}", field="data") from None
        if settings.output is OutputKind.probabilities:
            return [_scored(row, class_names) for row in scores]
        if settings.output is OutputKind.labels:
            return [({"label": native(value)}, str(native(value)), None) for value in scores]
        return [({"value": float(value)}, None, float(value)) for value in scores]

    def _check_row_count(self, key: str, n: int) -> None:
        """Refuse a side whose rows are not as many as the other side's, already logged."""
        other = self.store.inference(f"{key}/0")
        if other is None and n > 1:
            other = self.store.inference(key)
        if other is not None and other.row_count != n:
            raise RowCountConflictError(key, other.row_count, n)


def _synthetic(event: LoggerEvent) -> bool:
    """The logged request is one of the explainers' own calls: it carried
    ``Seldon-Skip-Logging: true``, which KServe's logger reports when its
    ``metadataHeaders`` names it (Seldon's executor does not log them at all)."""
    return any(
        name.lower() == SKIP_LOGGING and any(v.strip().lower() == "true" for v in values)
        for name, values in event.metadata.items()
    )


def _id(key: str, index: int, count: int) -> str:
    return key if count == 1 else f"{key}/{index}"


def _scored(row: np.ndarray, class_names: list[str] | None) -> tuple[dict[str, Any], str, float]:
    best = int(np.argmax(row))
    label = class_names[best] if class_names else str(best)
    return {"scores": [float(p) for p in row]}, label, float(row[best])


__all__ = ["Ingest", "Ingested", "OnLogged", "Source"]
