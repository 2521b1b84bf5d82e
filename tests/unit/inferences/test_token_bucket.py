"""The sink's token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from explainer_service.inferences.token_bucket import TokenBucket, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_one_seconds_worth_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(4, clock=clock)
    assert [bucket.take() for _ in range(4)] == [0.0] * 4
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 60  # refills to the burst, no further
    assert sum(bucket.take() == 0.0 for _ in range(10)) == 4


def test_a_slow_rate_still_lets_one_through_and_says_when_the_next_comes() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, clock=clock)
    assert bucket.take() == 0.0
    wait = bucket.take()
    assert wait == pytest.approx(2.0)
    assert retry_after(wait) == 2 and retry_after(0.01) == 1
    with pytest.raises(ValueError):
        TokenBucket(0)
