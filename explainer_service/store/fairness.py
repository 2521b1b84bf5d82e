"""What ``GET /fairness`` reads of the inference log: the decisions logged in a window, and
the fairness blocks of the explanations made of them.

Plain functions over a ``Store`` (the SQL both backends share), so the store's interface
keeps its one job; each reads at most ``limit`` rows, the newest of the window first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from explainer_service.store.base import Store
from explainer_service.store.record import Status


@dataclass(frozen=True)
class LoggedDecision:
    """One complete logged inference: its row (wire values, feature order) and the
    model's answer as logged (``{"scores"}``, ``{"label"}`` or ``{"value"}``)."""

    id: str
    instance: list[Any]
    answer: dict[str, Any]


def window_decisions(
    store: Store, since: str, until: str, limit: int
) -> tuple[int, list[LoggedDecision]]:
    """How many complete inferences were logged from ``since`` to ``until`` (stamps as
    ``record.stamp`` writes them), and the newest ``limit`` of them."""
    window = "instance IS NOT NULL AND answer IS NOT NULL AND logged_at >= ? AND logged_at <= ?"
    with store._session() as db:
        total = int(
            db.execute(
                f"SELECT COUNT(*) FROM inferences WHERE {window}", (since, until)
            ).fetchone()[0]
        )
        rows = db.execute(
            f"SELECT id, instance, answer FROM inferences WHERE {window} "
            "ORDER BY logged_at DESC, id LIMIT ?",
            (since, until, limit),
        ).fetchall()
    return total, [LoggedDecision(id, json.loads(row), json.loads(ans)) for id, row, ans in rows]


def window_fairness(
    store: Store, since: str, until: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """(inference id, fairness block) of the done explanations of inferences logged from
    ``since`` to ``until`` that have one: at most ``limit``, of the newest inferences."""
    with store._session() as db:
        rows = db.execute(
            "SELECT l.inference_id, e.explanation FROM inference_explanations l "
            "JOIN inferences i ON i.id = l.inference_id "
            "JOIN explanations e ON e.id = l.explanation_id "
            "WHERE i.logged_at >= ? AND i.logged_at <= ? AND e.status = ? "
            "AND e.explanation IS NOT NULL "
            "ORDER BY i.logged_at DESC, l.inference_id, l.explanation_id LIMIT ?",
            (since, until, Status.done, limit),
        ).fetchall()
    found = []
    for inference_id, text in rows:
        fairness = json.loads(text).get("fairness")
        if fairness:
            found.append((inference_id, fairness))
    return found
