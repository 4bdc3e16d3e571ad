"""The order manager and :class:`CcxtVenue` over real ccxt (``binanceusdm``) talking HTTP to
the exchange double (tests/exchange_double/). ccxt's own limiter is off (the double is local;
its 50 ms spacing would only slow the tests); the venue's request budget is not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from quantum_trader.adapters.ccxt_venue_client import CcxtClientConfig, build_venue
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.execution.ccxt_venue import CcxtVenue
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.request_budget import RequestBudget
from tests.exchange_double import ExchangeDouble


@dataclass
class FakeTime:
    """Seconds that pass only when slept through (the budget's clock in tests)."""

    now_s: float = 1_000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds


class RecordingBudget(RequestBudget):
    """A budget that remembers when (its clock) each request was let through."""

    def __init__(self, per_minute: int, clock: FakeTime) -> None:
        super().__init__(per_minute, clock.now, clock.sleep)
        self.times: list[float] = []

    def acquire(self) -> None:
        super().acquire()
        self.times.append(self._now())


def venue_for(
    double: ExchangeDouble,
    *,
    budget: RequestBudget | None = None,
    timeout_ms: int = 2_000,
) -> CcxtVenue:
    config = CcxtClientConfig(
        "testnet", "key", "secret", double.base_url, timeout_ms, enable_rate_limit=False
    )
    venue = build_venue(
        config,
        requests_per_minute=1_000_000,
        symbols=("BTCUSDT", "ETHUSDT"),
        budget=budget or RequestBudget(1_000_000, time.monotonic, time.sleep),
    )
    # markets (exchangeInfo, time) loaded before a test's faults and counts begin; the counts
    # below are those of the venue's own requests
    venue.client.load_markets()  # type: ignore[attr-defined]
    double.requests.clear()
    return venue


def manager_for(venue: CcxtVenue, double: ExchangeDouble, run_id: str = "live") -> OrderManager:
    clock = SimulatedClock(1_700_000_000_000)
    return OrderManager(
        venue,
        BINANCE_USDM,
        clock,
        InProcessBus(clock, "live"),
        run_id,
        mark=lambda s: double.book.marks[s],
    )


@pytest.fixture
def double() -> Iterator[ExchangeDouble]:
    with ExchangeDouble() as running:
        yield running
