"""Computed explanations the store did not take, kept until it answers again.

When the store fails as an answer is being stored (a full disk, a database restarting),
the answer is kept here, under its cache key, with the lease still held (``Service``
renews it), and ``Service.store_unstored`` stores it once the store writes again, so an
accepted job is neither failed nor computed twice for the store's sake. A request for the
same key meanwhile is answered from here. At most ``limit`` are kept: beyond it an answer
is dropped, its lease runs out and the request is computed again (by this process or
another sharing the store).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from explainer_service.workers import Task
from explainers import Explanation


@dataclass(frozen=True)
class Unstored:
    """One answer waiting for the store: its request's task (id, method, request id)."""

    key: str
    task: Task
    explanation: Explanation


class UnstoredAnswers:
    """A bounded, thread-safe map of cache key to ``Unstored``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[str, Unstored] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, answer: Unstored) -> bool:
        """Keep ``answer``; False (not kept) when ``limit`` are kept already."""
        with self._lock:
            if answer.key not in self._kept and len(self._kept) >= self.limit:
                return False
            self._kept[answer.key] = answer
            return True

    def get(self, key: str) -> Unstored | None:
        with self._lock:
            return self._kept.get(key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._kept.pop(key, None)

    def all(self) -> list[Unstored]:
        """What is kept now, oldest first."""
        with self._lock:
            return list(self._kept.values())

    def ids(self) -> list[str]:
        with self._lock:
            return [answer.task.id for answer in self._kept.values()]
