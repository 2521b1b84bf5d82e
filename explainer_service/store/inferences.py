"""The inference log: what the model served, as its request logger reported it.

One row per inference (one row of a request): the request's side (the row of wire values
in feature order, decoded by the configured codec) and the response's side (the model's
answer for that row) arrive as separate events, in either order, or only one of them. An
event of one row is the inference ``EVENT_ID``; the rows of an event of ``n > 1`` rows are
``EVENT_ID/0`` ... ``EVENT_ID/n-1``.

Each side is written once: the same event again changes nothing (``duplicate``); another
event for a side already written is kept out (``conflict``: the first one stays). The
statements are each atomic, so two replicas receiving the two sides at once both succeed.

``inference_explanations`` links an inference to the explanations made of it, with whether
the model, asked again, still gave the logged answer. ``inference_jobs`` holds the
explanation policy's work (``explainer_service.inferences.policy``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from explainer_service.store.inference_jobs import InferenceJobs
from explainer_service.store.record import stamp

#: The statements of the migration that adds the inference log (the same in both backends).
MIGRATION = (
    "CREATE TABLE inferences (id TEXT PRIMARY KEY, event_id TEXT NOT NULL, "
    "row_index INTEGER NOT NULL, row_count INTEGER NOT NULL, source TEXT NOT NULL, "
    "model TEXT NOT NULL, endpoint TEXT, component TEXT, namespace TEXT, protocol TEXT, "
    "requested_at TEXT, answered_at TEXT, logged_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
    "instance TEXT, answer TEXT, label TEXT, score DOUBLE PRECISION, metadata TEXT)",
    "CREATE INDEX inferences_logged ON inferences (logged_at)",
    "CREATE INDEX inferences_event ON inferences (event_id)",
    "CREATE TABLE inference_explanations (inference_id TEXT NOT NULL, "
    "explanation_id TEXT NOT NULL, method TEXT NOT NULL, created_at TEXT NOT NULL, "
    "agrees INTEGER, live TEXT, PRIMARY KEY (inference_id, explanation_id))",
    # the policy's work: queued_at, started_at and lease_until are seconds since the epoch;
    # model_calls is the method's estimate while it runs, then what the explanation reported
    "CREATE TABLE inference_jobs (inference_id TEXT NOT NULL, method TEXT NOT NULL, "
    "state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
    "explanation_id TEXT, owner TEXT, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0, "
    "attempts INTEGER NOT NULL DEFAULT 0, queued_at DOUBLE PRECISION NOT NULL, "
    "started_at DOUBLE PRECISION, model_calls INTEGER, error TEXT, "
    "PRIMARY KEY (inference_id, method))",
    "CREATE INDEX inference_jobs_state ON inference_jobs (state, lease_until, queued_at)",
    "CREATE INDEX inference_jobs_started ON inference_jobs (started_at)",
    # the complete inferences the policy has decided about (each once, whichever replica)
    "CREATE TABLE inference_considered (inference_id TEXT PRIMARY KEY, "
    "considered_at TEXT NOT NULL, methods INTEGER NOT NULL)",
)

Side = Literal["request", "response"]


class Logged(StrEnum):
    """What writing one side of one inference did."""

    new = "new"  # the first side of a new inference
    joined = "joined"  # the other side of an inference already there
    duplicate = "duplicate"  # this side was there already, the same
    conflict = "conflict"  # this side was there already, different: the first one stays


@dataclass
class LoggedSide:
    """One side of one inference, as decoded from a logger's event."""

    id: str
    event_id: str
    row_index: int
    row_count: int
    side: Side
    source: str
    model: str
    #: the request's row (wire values, feature order), for a request side
    instance: list[Any] | None = None
    #: the model's answer for the row, for a response side: ``{"scores": [...]}``,
    #: ``{"label": ...}`` or ``{"value": ...}``
    answer: dict[str, Any] | None = None
    label: str | None = None
    score: float | None = None
    endpoint: str | None = None
    component: str | None = None
    namespace: str | None = None
    protocol: str | None = None
    #: the logger's time of the event (ISO 8601), when it said
    at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inference:
    """One logged inference as stored."""

    id: str
    event_id: str
    row_index: int
    row_count: int
    source: str
    model: str
    endpoint: str | None
    component: str | None
    namespace: str | None
    protocol: str | None
    requested_at: str | None
    answered_at: str | None
    logged_at: str
    updated_at: str
    instance: list[Any] | None
    answer: dict[str, Any] | None
    label: str | None
    score: float | None
    metadata: dict[str, Any]

    @property
    def complete(self) -> bool:
        """Both sides are logged."""
        return self.instance is not None and self.answer is not None


@dataclass
class InferenceExplanation:
    """An explanation made of a logged inference, and what the model said when asked again."""

    inference_id: str
    explanation_id: str
    method: str
    created_at: str
    #: the model, asked again, gave the logged answer (None: not checked, e.g. no answer logged)
    agrees: bool | None
    #: the model's answer when asked again (as ``Inference.answer``)
    live: dict[str, Any] | None


INFERENCE_COLUMNS = (
    "id, event_id, row_index, row_count, source, model, endpoint, component, namespace, "
    "protocol, requested_at, answered_at, logged_at, updated_at, instance, answer, label, "
    "score, metadata"
)


def _inference(row: Any) -> Inference:
    values = list(row)
    for i in (14, 15, 18):  # instance, answer, metadata
        values[i] = json.loads(values[i]) if values[i] else None
    values[18] = values[18] or {}
    values[17] = None if values[17] is None else float(values[17])
    return Inference(*values)


class _Sessions:
    """What the mixin needs of ``Store`` (for the type checker)."""

    def _session(self, atomic: bool = False) -> AbstractContextManager[Any]:
        raise NotImplementedError


class InferenceLog(InferenceJobs):
    """The store's inference log (mixed into ``Store``), with the policy's jobs."""

    def log_inferences(self, sides: Sequence[LoggedSide]) -> list[Logged]:
        """Write each side (one event's rows: one transaction); answers what each did."""
        outcomes = []
        now = stamp()
        with self._session(atomic=True) as db:
            for side in sides:
                outcomes.append(_log_one(db, side, now))
        return outcomes

    def inference(self, id: str) -> Inference | None:
        with self._session() as db:
            row = db.execute(
                f"SELECT {INFERENCE_COLUMNS} FROM inferences WHERE id = ?", (id,)
            ).fetchone()
        return _inference(row) if row else None

    def inferences(
        self,
        limit: int,
        *,
        before: str | None = None,
        label: str | None = None,
        model: str | None = None,
        after_id: str | None = None,
    ) -> list[Inference]:
        """The newest first (by ``logged_at``, then ``id``), those logged before ``before``
        when given; with ``after_id`` too, those after the inference ``(before, after_id)``
        in that order (a page's cursor: the rows of one event share their ``logged_at``)."""
        where: list[str] = []
        args: list[Any] = []
        if before is not None and after_id is not None:
            where.append("(logged_at < ? OR (logged_at = ? AND id > ?))")
            args.extend((before, before, after_id))
            before = None
        filters = (("logged_at < ?", before), ("label = ?", label), ("model = ?", model))
        for clause, value in filters:
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT {INFERENCE_COLUMNS} FROM inferences"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY logged_at DESC, id LIMIT ?"
        with self._session() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [_inference(row) for row in rows]

    def count_inferences(self) -> int:
        with self._session() as db:
            return int(db.execute("SELECT COUNT(*) FROM inferences").fetchone()[0])

    def logged_window(
        self, since: str, until: str, limit: int, *, unless_header: str | None = None
    ) -> tuple[int, list[list[Any]]]:
        """The request rows logged from ``since`` to ``until`` (stamps as ``stamp`` writes
        them, both included), but those whose kept metadata names the request header
        ``unless_header`` (any case): how many there are, and at most ``limit`` of them
        spread evenly over the window (every k-th by the time it was logged, oldest first).
        The same rows give the same answer."""
        window = "instance IS NOT NULL AND logged_at >= ? AND logged_at <= ?"
        args: tuple[Any, ...] = (since, until)
        if unless_header is not None:  # metadata is JSON: {"Header-Name": ...}
            window += " AND LOWER(COALESCE(metadata, '')) NOT LIKE ?"
            args += (f"%{json.dumps(unless_header.lower())}%",)
        with self._session() as db:
            counted = db.execute(f"SELECT COUNT(*) FROM inferences WHERE {window}", args)
            total = int(counted.fetchone()[0])
            step = max(1, -(-total // max(limit, 1)))  # ceiling: at most ``limit`` rows
            rows = db.execute(
                "SELECT instance FROM (SELECT instance, ROW_NUMBER() OVER "
                f"(ORDER BY logged_at, id) AS n FROM inferences WHERE {window}) AS w "
                "WHERE (n - 1) / ? * ? = n - 1 ORDER BY n LIMIT ?",
                (*args, step, step, limit),
            ).fetchall()
        return total, [json.loads(row[0]) for row in rows]

    def unconsidered_inferences(self, since_s: float, limit: int) -> list[Inference]:
        """Complete inferences logged in the last ``since_s`` seconds that the explanation
        policy has not decided about (``queue_inference_jobs``), oldest first."""
        with self._session() as db:
            rows = db.execute(
                f"SELECT {INFERENCE_COLUMNS} FROM inferences i WHERE logged_at >= ? "
                "AND instance IS NOT NULL AND answer IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM inference_considered c WHERE c.inference_id = i.id) "
                "ORDER BY logged_at, id LIMIT ?",
                (stamp(ago_days=since_s / 86400), limit),
            ).fetchall()
        return [_inference(row) for row in rows]

    def link_explanation(
        self,
        inference_id: str,
        explanation_id: str,
        method: str,
        agrees: bool | None,
        live: dict[str, Any] | None,
    ) -> None:
        """Record that ``explanation_id`` explains ``inference_id`` (again: the check's
        latest outcome replaces the earlier one)."""
        agreed = None if agrees is None else int(agrees)
        text = None if live is None else json.dumps(live)
        with self._session() as db:
            db.execute(
                "INSERT INTO inference_explanations (inference_id, explanation_id, method, "
                "created_at, agrees, live) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (inference_id, explanation_id) DO UPDATE SET "
                "agrees = excluded.agrees, live = excluded.live",
                (inference_id, explanation_id, method, stamp(), agreed, text),
            )

    def inference_explanations(self, inference_id: str) -> list[InferenceExplanation]:
        with self._session() as db:
            rows = db.execute(
                "SELECT inference_id, explanation_id, method, created_at, agrees, live "
                "FROM inference_explanations WHERE inference_id = ? ORDER BY created_at, method",
                (inference_id,),
            ).fetchall()
        return [_linked(row) for row in rows]

    def purge_inferences(self, older_than_days: float | None, max_rows: int) -> int:
        """Delete the inferences logged more than ``older_than_days`` days ago, then the
        oldest beyond ``max_rows``, with their explanation links and policy jobs (the
        explanations themselves stay, under ``service.retention_days``). Answers how many."""
        removed = 0
        with self._session() as db:
            if older_than_days is not None:
                removed += _delete_where(db, "logged_at < ?", (stamp(ago_days=older_than_days),))
            count = int(db.execute("SELECT COUNT(*) FROM inferences").fetchone()[0])
            if count > max_rows:
                # the first row beyond max_rows, in the order the log lists (rows logged in
                # the same millisecond are told apart by id)
                at, id = db.execute(
                    "SELECT logged_at, id FROM inferences ORDER BY logged_at DESC, id "
                    "LIMIT 1 OFFSET ?",
                    (max_rows,),
                ).fetchone()
                older = "logged_at < ? OR (logged_at = ? AND id >= ?)"
                removed += _delete_where(db, older, (at, at, id))
        return removed


def _linked(row: Any) -> InferenceExplanation:
    inference_id, explanation_id, method, created_at, agrees, live = row
    return InferenceExplanation(
        inference_id,
        explanation_id,
        method,
        created_at,
        None if agrees is None else bool(agrees),
        json.loads(live) if live else None,
    )


def _delete_where(db: Any, where: str, args: tuple[Any, ...]) -> int:
    chosen = f"SELECT id FROM inferences WHERE {where}"
    db.execute(f"DELETE FROM inference_explanations WHERE inference_id IN ({chosen})", args)
    db.execute(f"DELETE FROM inference_jobs WHERE inference_id IN ({chosen})", args)
    db.execute(f"DELETE FROM inference_considered WHERE inference_id IN ({chosen})", args)
    return int(db.execute(f"DELETE FROM inferences WHERE {where}", args).rowcount)


def _log_one(db: Any, side: LoggedSide, now: str) -> Logged:
    instance = None if side.instance is None else json.dumps(side.instance)
    answer = None if side.answer is None else json.dumps(side.answer, sort_keys=True)
    requested_at = side.at if side.side == "request" else None
    answered_at = side.at if side.side == "response" else None
    values = (
        side.id, side.event_id, side.row_index, side.row_count, side.source, side.model,
        side.endpoint, side.component, side.namespace, side.protocol, requested_at,
        answered_at, now, now, instance, answer, side.label, side.score,
        json.dumps(side.metadata) if side.metadata else None,
    )  # fmt: skip
    marks = ", ".join("?" * len(values))
    inserted = db.execute(
        f"INSERT INTO inferences ({INFERENCE_COLUMNS}) VALUES ({marks}) "
        "ON CONFLICT (id) DO NOTHING",
        values,
    ).rowcount
    if inserted == 1:
        return Logged.new
    if side.side == "request":
        joined = db.execute(
            "UPDATE inferences SET instance = ?, requested_at = ?, updated_at = ?, "
            "protocol = COALESCE(protocol, ?) WHERE id = ? AND instance IS NULL",
            (instance, requested_at, now, side.protocol, side.id),
        ).rowcount
        column, value = "instance", instance
    else:
        joined = db.execute(
            "UPDATE inferences SET answer = ?, label = ?, score = ?, answered_at = ?, "
            "updated_at = ? WHERE id = ? AND answer IS NULL",
            (answer, side.label, side.score, answered_at, now, side.id),
        ).rowcount
        column, value = "answer", answer
    if joined == 1:
        return Logged.joined
    stored = db.execute(f"SELECT {column} FROM inferences WHERE id = ?", (side.id,)).fetchone()
    if column == "answer" and stored and stored[0]:
        same = json.loads(stored[0]) == side.answer
    else:
        same = bool(stored) and stored[0] == value
    return Logged.duplicate if same else Logged.conflict
