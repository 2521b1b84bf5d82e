"""What an explanation may spend on the model (``Budget``) and may cost (``CostEstimate``).

Both count what reaches the model, as ``Cost`` does: HTTP requests (``model_calls``) and the
rows they carry. ``CountingModel`` enforces a budget before each call; an explainer's
``estimate`` bounds the cost from its parameters alone, so a caller can refuse a request
before any call. Seconds are not counted here: a deadline belongs to whoever runs the
explanation (the service stops the worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from explainers.errors import BudgetExceededError


@dataclass(frozen=True)
class CostEstimate:
    """At most ``model_calls`` requests carrying ``rows`` rows (retries not counted).

    ``upper_bound`` is False when part of the work is open-ended and the numbers bound only
    the rest: the budget enforced while the explanation runs is then what caps it.
    ``drivers`` are the parameters the cost grows with, the ones to lower.
    """

    model_calls: int
    rows: int
    drivers: tuple[str, ...] = ()
    upper_bound: bool = True


@dataclass
class Tally:
    """Adds up predict calls the way the model server counts them: a call of ``n`` rows is
    ``ceil(n / max_batch_rows)`` requests (one when ``max_batch_rows`` is None); a call
    without rows is none."""

    max_batch_rows: int | None = None
    model_calls: int = 0
    rows: int = 0

    def call(self, rows: int, times: int = 1) -> Tally:
        """Count ``times`` calls of ``rows`` rows each."""
        if rows > 0 and times > 0:
            chunks = 1 if self.max_batch_rows is None else -(-rows // self.max_batch_rows)
            self.model_calls += chunks * times
            self.rows += rows * times
        return self

    def estimate(self, drivers: Sequence[str], *, upper_bound: bool = True) -> CostEstimate:
        return CostEstimate(self.model_calls, self.rows, tuple(drivers), upper_bound)


@dataclass(frozen=True)
class Budget:
    """What one explanation may spend: ``max_model_calls`` HTTP requests to the model and
    ``max_rows`` rows in them. None: no limit."""

    max_model_calls: int | None = None
    max_rows: int | None = None

    def check_call(self, calls: int, rows: int, new_rows: int) -> None:
        """Raise ``BudgetExceededError`` before a call of ``new_rows`` rows, after ``calls``
        requests carrying ``rows`` rows: when the rows would pass ``max_rows``, or the
        requests have reached ``max_model_calls``."""
        if self.max_rows is not None and rows + new_rows > self.max_rows:
            raise BudgetExceededError(
                f"the explanation was stopped by its budget of {self.max_rows} rows "
                f"(max_rows): {rows} rows were sent to the model and the next call needed "
                f"{new_rows} more",
                budget="max_rows",
                limit=self.max_rows,
                used=rows,
            )
        if self.max_model_calls is not None and calls >= self.max_model_calls:
            raise BudgetExceededError(
                f"the explanation was stopped by its budget of {self.max_model_calls} model "
                f"calls (max_model_calls): {calls} calls were made and it needed more",
                budget="max_model_calls",
                limit=self.max_model_calls,
                used=calls,
            )

    def passed_by(self, estimate: CostEstimate) -> list[tuple[str, int, int]]:
        """``(budget, limit, estimated)`` for each limit the estimate passes."""
        checks = (
            ("max_model_calls", self.max_model_calls, estimate.model_calls),
            ("max_rows", self.max_rows, estimate.rows),
        )
        return [(name, limit, value) for name, limit, value in checks if limit and value > limit]

    def check_estimate(self, method: str, estimate: CostEstimate) -> None:
        """Raise ``BudgetExceededError`` when ``estimate`` passes a limit, naming the limit
        (the one passed furthest), the estimate and the parameters that drive it."""
        passed = self.passed_by(estimate)
        if not passed:
            return
        name, limit, value = max(passed, key=lambda p: p[2] / p[1])  # the most passed
        lower = f"; lower {', '.join(estimate.drivers)}" if estimate.drivers else ""
        raise BudgetExceededError(
            f"{method} with these parameters may cost up to {estimate.model_calls} model calls "
            f"and {estimate.rows} rows, more than the budget {name} = {limit} allows{lower}",
            budget=name,
            limit=limit,
            used=value,
            estimated=True,
            parameters=estimate.drivers,
        )
