"""Builders shared by the risk tests."""

from __future__ import annotations

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchStore
from quantum_trader.risk.policy_source import FixedPolicySource, PolicySource
from quantum_trader.risk.ports import RiskJournal
from tests.risk.fakes import FakePortfolio, MemoryJournal, MemoryKillSwitchStore

T0 = 1_700_000_000_000 - 1_700_000_000_000 % MS_PER_HOUR


def portfolio(now: int = T0) -> FakePortfolio:
    pf = FakePortfolio()
    pf.marks.update({"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0})
    pf.candle_close.update({"BTCUSDT": now, "ETHUSDT": now})
    return pf


def engine(
    pf: FakePortfolio,
    clock: SimulatedClock,
    *,
    config: RiskConfig | None = None,
    policy: PolicySource | None = None,
    journal: RiskJournal | None = None,
    store: KillSwitchStore | None = None,
) -> RiskEngine:
    return RiskEngine(
        config=config or RiskConfig(),
        portfolio=pf,
        policy=policy or FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(store or MemoryKillSwitchStore(), clock),
        journal=journal or MemoryJournal(),
        clock=clock,
    )


def buy(symbol: str = "BTCUSDT", qty: float = 0.01, **kw: object) -> OrderIntent:
    return OrderIntent(symbol, Side.BUY, qty, **kw)  # type: ignore[arg-type]


def sell(symbol: str = "BTCUSDT", qty: float = 0.01, **kw: object) -> OrderIntent:
    return OrderIntent(symbol, Side.SELL, qty, **kw)  # type: ignore[arg-type]
