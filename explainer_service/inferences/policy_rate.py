"""The explanation policy's rate limits, over any 60 seconds.

Counted from the jobs' starts as the store keeps them (every process sharing the store
counts those of all): when each started, and its model calls (the method's estimate while
it runs, what the explanation reported once it is done). A start at ``t`` counts until
``t + 60``. The clock is injected (seconds, the store's ``started_at`` scale).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

#: The window the limits are per.
MINUTE_S = 60.0

#: A job's start: when (seconds since the epoch), and its model calls.
Start = tuple[float, int]


class Rate:
    """At most ``explanations`` starts, and ``model_calls`` model requests (None: no
    limit), in any ``MINUTE_S`` seconds."""

    def __init__(
        self,
        explanations: int,
        model_calls: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.explanations = explanations
        self.model_calls = model_calls
        self.clock = clock

    def since(self) -> float:
        """The earliest start that still counts."""
        return self.clock() - MINUTE_S

    def allows(self, starts: Sequence[Start], estimate: int) -> bool:
        """Whether a job that may make ``estimate`` model calls may start now, after
        ``starts``. One estimated above the whole ``model_calls`` budget starts only when
        no start counts: alone in its window (it would never start otherwise)."""
        since = self.since()
        counted = [calls for at, calls in starts if at > since]
        if len(counted) >= self.explanations:
            return False
        if self.model_calls is None or not counted:
            return True
        return sum(counted) + estimate <= self.model_calls
