"""The policy's rate limits with an injected clock: starts and model calls in any 60 s."""

from __future__ import annotations

from explainer_service.inferences.policy_rate import MINUTE_S, Rate


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(rate: Rate, clock: Clock, estimate: int, until: float, step: float = 0.5) -> list[float]:
    """Start whenever the rate allows, every ``step`` seconds until ``until``."""
    starts: list[tuple[float, int]] = []
    while clock.now < until:
        if rate.allows(starts, estimate):
            starts.append((clock.now, estimate))
        clock.now += step
    return [at for at, _ in starts]


def most_in_a_minute(times: list[float]) -> int:
    return max(sum(s <= t < s + MINUTE_S for t in times) for s in times)


def test_never_more_starts_than_the_limit_in_any_minute() -> None:
    clock = Clock()
    times = run(Rate(5, clock=clock), clock, estimate=1, until=1000 + 300)
    assert most_in_a_minute(times) == 5
    assert len(times) == 25  # five each minute: the limit is used, not only kept
    assert times[:6] == [1000.0, 1000.5, 1001.0, 1001.5, 1002.0, 1060.0]


def test_model_calls_reserve_the_estimate_and_count_what_was_reported() -> None:
    clock = Clock()
    rate = Rate(100, model_calls=1000, clock=clock)
    assert rate.allows([], 400)
    starts = [(1000.0, 400), (1001.0, 400)]
    clock.now = 1002.0
    assert not rate.allows(starts, 400)  # 1,200 would pass the budget
    assert rate.allows(starts, 200)
    starts[0] = (1000.0, 50)  # the first reported far fewer calls than its estimate
    assert rate.allows(starts, 400)
    clock.now = 1061.0  # both starts are over a minute old
    assert rate.allows([(1000.0, 400), (1001.0, 400)], 1000)


def test_an_explanation_above_the_whole_budget_runs_alone_in_its_minute() -> None:
    clock = Clock()
    rate = Rate(100, model_calls=1000, clock=clock)
    times = run(rate, clock, estimate=3000, until=1000 + 200)
    assert times == [1000.0, 1060.0, 1120.0, 1180.0]
