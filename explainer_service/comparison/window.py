"""A window of logged inferences re-scored by the candidate: how many decisions change.

The logged decision is the label the inference log kept for the model's answer (or the
most probable class of its scores); the candidate's is the label of its answer for the
logged row. Inferences logged without an answer are counted, not compared.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np

from explainer_service.comparison.bodies import WindowChange, WindowComparison
from explainer_service.errors import PayloadError
from explainer_service.store import Store
from explainer_service.store.inferences import Inference
from explainer_service.store.record import stamp
from explainers.model import CountingModel

_UNITS = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0}
#: The longest window a request may name.
MAX_WINDOW_DAYS = 366.0


def window_days(text: str) -> float:
    """``"7d"``, ``"12h"``, ``"30m"`` as days; ``PayloadError`` naming ``window`` else."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([mhd])", text.strip())
    days = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    if not match or not 0 < days <= MAX_WINDOW_DAYS:
        raise PayloadError(
            f"window must be a length like 30m, 12h or 7d, above 0 and at most "
            f"{MAX_WINDOW_DAYS:g}d; got {text!r}",
            field="window",
        )
    return days


def logged_label(inference: Inference, class_names: list[str] | None) -> str | None:
    """The decision the model gave when the inference was logged."""
    if inference.label is not None:
        return inference.label
    answer: dict[str, Any] = inference.answer or {}
    if "label" in answer:
        return str(answer["label"])
    scores = answer.get("scores")
    if not scores:
        return None
    best = int(np.argmax(scores))
    return class_names[best] if class_names and best < len(class_names) else str(best)


def rescore_window(
    store: Store,
    candidate: CountingModel,
    days: float,
    limit: int,
    *,
    model: str,
    candidate_name: str,
    candidate_version: str | None,
    class_names: list[str] | None,
) -> WindowComparison:
    """Re-score the newest ``limit`` inferences logged in the last ``days`` days with the
    ``candidate`` (one batched call, split by the model client into chunks) and count the
    decisions it changes."""
    since, until = stamp(ago_days=days), stamp()
    newest = store.inferences(limit + 1)
    in_window = [i for i in newest if i.logged_at >= since]
    truncated = len(in_window) > limit
    in_window = in_window[:limit]
    complete = [
        (i, label)
        for i in in_window
        if i.instance is not None and (label := logged_label(i, class_names)) is not None
    ]
    changes: Counter[tuple[str, str]] = Counter()
    if complete:
        scores = candidate.raw_rows([i.instance or [] for i, _ in complete])
        for (_, logged), prediction in zip(complete, candidate.predictions(scores), strict=True):
            changes[(logged, str(prediction.label))] += 1
    changed = sum(n for (a, b), n in changes.items() if a != b)
    ranked = sorted(changes.items(), key=lambda item: (-item[1], item[0]))
    return WindowComparison(
        since=datetime.fromisoformat(since),
        until=datetime.fromisoformat(until),
        rescored=len(complete),
        unanswered=len(in_window) - len(complete),
        truncated=truncated,
        changed=changed,
        share_changed=round(changed / len(complete), 6) if complete else None,
        changes=[WindowChange(logged=a, candidate=b, count=n) for (a, b), n in ranked],
        model=model,
        candidate=candidate_name,
        candidate_version=candidate_version,
        model_calls=candidate.calls,
        rows=candidate.rows,
    )
