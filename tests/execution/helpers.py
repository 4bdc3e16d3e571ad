"""A small composition of the simulated exchange for unit tests (no engine, no store)."""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.bus.envelope import Event
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.market import FundingRate
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.simulated.exchange import ExchangeConfig, SimulatedExchange
from quantum_trader.execution.simulated.funding import FundingConfig, FundingSchedule
from quantum_trader.portfolio.portfolio import Portfolio

HOUR = 3_600_000


@dataclass
class Desk:
    clock: SimulatedClock
    bus: InProcessBus
    portfolio: Portfolio
    exchange: SimulatedExchange
    orders: OrderManager
    events: list[Event]

    def bar(self, symbol: str, open_time: int, o: float, h: float, lo: float, c: float) -> None:
        """Process one 1h candle the way the engine does: clock to its close, then the venue."""
        close_time = open_time + HOUR
        self.clock.advance_to(close_time)
        self.exchange.on_bar(symbol, open_time, close_time, o, h, lo, c, 1.0)
        self.portfolio.on_bar(symbol, open_time, close_time, o, h, lo, c, 1.0)


def make_desk(
    balance: float = 100_000.0,
    config: ExchangeConfig | None = None,
    funding: FundingConfig | None = None,
    rates: dict[str, list[FundingRate]] | None = None,
) -> Desk:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock, "t")
    events: list[Event] = []
    bus.subscribe("*", events.append)
    portfolio = Portfolio("t")
    portfolio.deposit(balance, 0)
    exchange = SimulatedExchange(
        BINANCE_USDM,
        portfolio,
        FundingSchedule(funding or FundingConfig(enabled=False), rates or {}),
        config or ExchangeConfig(),
    )
    orders = OrderManager(
        exchange,
        BINANCE_USDM,
        clock,
        bus,
        "t",
        mark=lambda s: portfolio.state(s).mark,  # type: ignore[union-attr]
    )
    portfolio.trade_listeners.append(orders.on_trade_closed)
    return Desk(clock, bus, portfolio, exchange, orders, events)
