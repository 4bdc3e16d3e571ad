"""429 and 418 answers back off for their Retry-After and the venue never sends more than its
budget of requests in any 60 seconds (on a fake clock: minutes of budget run in no time)."""

from __future__ import annotations

import pytest

from quantum_trader.domain.orders import OrderStatus, Side
from quantum_trader.execution.request_budget import RequestBudget
from tests.exchange_double import ExchangeDouble
from tests.live.conftest import FakeTime, RecordingBudget, manager_for, venue_for

BUDGET = 20


def _most_in_a_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_rate_limit_answers_back_off_within_the_budget(double: ExchangeDouble) -> None:
    clock = FakeTime()
    budget = RecordingBudget(BUDGET, clock)
    venue = venue_for(double, budget=budget)
    om = manager_for(venue, double)
    orders = [om.submit("BTCUSDT", Side.BUY, 0.003) for _ in range(10)]
    double.faults.rate_limit_next, double.faults.retry_after_s = 2, 7  # 429 twice
    orders += [om.submit("BTCUSDT", Side.BUY, 0.003) for _ in range(10)]
    double.faults.rate_limit_next, double.faults.rate_limit_status = 1, 418  # an IP ban
    double.faults.retry_after_s = 30
    orders += [om.submit("BTCUSDT", Side.BUY, 0.003) for _ in range(20)]
    assert all(o.status is OrderStatus.FILLED for o in orders)
    assert len(double.book.orders) == 40 and double.book.duplicate_attempts == 0
    assert venue.rate_limited == 3
    # every request the double saw went through the budget, and no 60 s held more than it
    assert sum(double.requests.values()) == budget.sent == len(budget.times)
    assert _most_in_a_window(budget.times) <= BUDGET
    assert budget.sent > 3 * BUDGET  # it ran minutes of fake time: the bound was tested
    assert 7.0 in clock.slept and 30.0 in clock.slept  # Retry-After was honoured
    gaps = [b - a for a, b in zip(budget.times, budget.times[1:], strict=False)]
    assert sum(1 for g in gaps if g >= 30.0) >= 1


def test_a_venue_that_keeps_refusing_gives_up_as_unknown_outcome(double: ExchangeDouble) -> None:
    clock = FakeTime()
    venue = venue_for(double, budget=RecordingBudget(BUDGET, clock))
    double.faults.rate_limit_next, double.faults.retry_after_s = 100, 1
    with pytest.raises(TimeoutError, match="rate limited 6 times"):
        venue.balance()
    assert clock.now_s - 1_000.0 >= 5.0  # five backoffs of a second each


def test_the_budget_holds_a_sliding_minute_and_a_pause() -> None:
    clock = FakeTime(0.0)
    budget = RequestBudget(3, clock.now, clock.sleep)
    for _ in range(7):
        budget.acquire()
    assert clock.now_s == 120.0  # 3 at 0 s, 3 at 60 s, 1 at 120 s
    budget.pause(15.0)
    budget.acquire()
    assert clock.now_s == 135.0  # room in the window: the pause decides
    budget.acquire()
    budget.pause(5.0)
    budget.acquire()
    assert clock.now_s == 180.0  # a full window (120, 135, 135): the window decides
    with pytest.raises(ValueError, match="at least 1"):
        RequestBudget(0, clock.now, clock.sleep)
