"""A token bucket: at most ``rate`` takes per second on average, bursts of ``burst``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Holds up to ``burst`` tokens (default: one second's worth, at least one), refilled at
    ``rate`` per second; ``take`` spends one. Thread-safe; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.rate = rate
        self.burst = max(burst if burst is not None else rate, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Spend a token: 0.0 when one was there, else the seconds until one will be (and
        none is spent)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def retry_after(wait_s: float) -> int:
    """A ``Retry-After`` value for a wait of ``wait_s`` seconds: whole seconds, at least 1."""
    return max(1, math.ceil(wait_s))
