from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories import SqlPolicyRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.bus import publish_event, topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.events import AlertSeverity, HealthAlert, RegimeChange, RegimeScope
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import TRADING_POLICY_KEY, RiskMode, TradingPolicy
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.meta_controller import (
    Health,
    MetaControllerConfig,
    MetaStrategyController,
    equity_slope,
    target_mode,
)
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.risk_modes import ModeChange

T0 = 1_700_000_000_000 - 1_700_000_000_000 % MS_PER_HOUR


@dataclass
class Equity:
    now: float = 10_000.0
    peak: float = 10_000.0
    daily: float = 0.0

    def set(self, value: float) -> None:
        self.now, self.peak = value, max(self.peak, value)

    def equity(self) -> float:
        return self.now

    def peak_equity(self) -> float:
        return self.peak

    def daily_pnl(self) -> float:
        return self.daily


@dataclass
class ModeLog:
    changes: list[ModeChange] = field(default_factory=list)

    def record_mode_change(self, change: ModeChange) -> None:
        self.changes.append(change)

    def latest_mode_change(self) -> ModeChange | None:
        return self.changes[-1] if self.changes else None


def test_target_mode_rules() -> None:
    cfg = MetaControllerConfig()
    assert target_mode(Health(0.0, 5, 0.0, 0.0), None, cfg)[0] is RiskMode.CONSERVATIVE
    assert target_mode(Health(0.0, 0, 0.0, 0.04), None, cfg)[0] is RiskMode.CONSERVATIVE
    assert target_mode(Health(0.03, 1, 0.0001, 0.0), None, cfg)[0] is RiskMode.AGGRESSIVE
    assert target_mode(Health(0.05, 0, 0.0, 0.0), None, cfg)[0] is RiskMode.MODERATE
    mode, reasons = target_mode(Health(0.0, 0, 0.001, 0.0), Regime.VOLATILE, cfg)
    assert mode is RiskMode.MODERATE and any("VOLATILE" in r for r in reasons)
    warn = Health(0.0, 0, 0.001, 0.0, alert="latency", alert_severity="warning")
    assert target_mode(warn, Regime.BULL, cfg)[0] is RiskMode.MODERATE
    assert equity_slope([100.0, 101.0, 102.0]) > 0 > equity_slope([102.0, 101.0, 100.0])


def _controller(
    sqlite_engine: Engine, clock: SimulatedClock, equity: Equity, **cfg: object
) -> tuple[MetaStrategyController, PolicyStore, InProcessBus, Scheduler, StatusRegistry]:
    bus = InProcessBus(clock)
    store = PolicyStore(SqlPolicyRepository(sqlite_engine), bus, clock)
    registry = StatusRegistry(clock)
    ctl = MetaStrategyController(
        config=MetaControllerConfig(**cfg),  # type: ignore[arg-type]
        portfolio=equity,
        store=store,
        journal=SqlRiskRepository(sqlite_engine),
        clock=clock,
        status=registry,
    )
    ctl.attach(bus)
    scheduler = Scheduler()
    ctl.start(scheduler, start_at=clock.now())
    return ctl, store, bus, scheduler, registry


def test_climbs_one_step_per_dwell_and_drops_at_once(sqlite_engine: Engine) -> None:
    clock = SimulatedClock(T0)
    equity = Equity()
    ctl, store, bus, scheduler, registry = _controller(sqlite_engine, clock, equity)
    ctl.set_market_regime(Regime.BULL)
    modes = []
    for h in range(1, 30):
        clock.advance_to(T0 + h * MS_PER_HOUR)
        equity.set(10_000.0 * (1 + 0.001 * h))  # steady gains
        scheduler.run_due(clock.now())
        modes.append(ctl.mode)
    assert modes[0] is RiskMode.MODERATE
    assert RiskMode.AGGRESSIVE in modes and modes[-1] is RiskMode.TURBO
    first_aggr = modes.index(RiskMode.AGGRESSIVE)
    assert modes.index(RiskMode.TURBO) - first_aggr >= 6  # min dwell of 6 hours between steps
    assert store.get(TRADING_POLICY_KEY, TradingPolicy).risk_mode is RiskMode.TURBO
    # a critical alert drops straight to CONSERVATIVE, without waiting for the scheduler
    alert = HealthAlert(AlertSeverity.CRITICAL, "venue down")
    publish_event(bus, topics.HEALTH_ALERT, alert, source="t")
    assert ctl.mode is RiskMode.CONSERVATIVE
    policy = store.get(TRADING_POLICY_KEY, TradingPolicy)
    assert policy.risk_mode is RiskMode.CONSERVATIVE and policy.max_leverage == 1.0
    history = SqlRiskRepository(sqlite_engine).mode_changes()
    assert [c.mode for c in history][:2] == [RiskMode.MODERATE, RiskMode.AGGRESSIVE]
    assert history[-1].mode is RiskMode.CONSERVATIVE
    assert any("venue down" in r for r in history[-1].reasons)
    assert history[-1].policy_version == store.version("trading.global")
    counters = registry.get("meta_strategy_controller").status.counters
    assert counters["mode_changes"] == len(history) and counters["evaluations"] >= 29


def test_mode_survives_restart(sqlite_engine: Engine) -> None:
    clock = SimulatedClock(T0)
    equity = Equity()
    ctl, *_ = _controller(sqlite_engine, clock, equity)
    equity.set(9_000.0)
    ctl.evaluate(clock.now())
    assert ctl.mode is RiskMode.CONSERVATIVE
    clock.advance_to(T0 + MS_PER_DAY)
    again, *_ = _controller(sqlite_engine, clock, equity)
    assert again.mode is RiskMode.CONSERVATIVE and again.last_reasons


def _regime(scope: RegimeScope, symbol: str, regime: Regime) -> RegimeChange:
    return RegimeChange(scope, symbol, regime, None, T0, None, None)


def test_closed_trades_and_the_market_regime_arrive_as_records(sqlite_engine: Engine) -> None:
    clock = SimulatedClock(T0)
    ctl, _, bus, *_ = _controller(sqlite_engine, clock, Equity())
    # a symbol's regime is not the market's: only the market-wide change reaches the controller
    for scope, symbol, regime in [
        (RegimeScope.MARKET, "MARKET", Regime.VOLATILE),
        (RegimeScope.SYMBOL, "BTCUSDT", Regime.BEAR),
    ]:
        publish_event(bus, topics.REGIME_CHANGED, _regime(scope, symbol, regime), source="t")
    # net PnL decides a loss: the first trade's price gain is eaten by its fees
    for k, (pnl, fees) in enumerate([(1.0, 1.5), (-2.0, 0.1), (-1.0, 0.0), (-3.0, 0.2)]):
        trade = Trade(f"t{k}", "BTCUSDT", Side.BUY, 1.0, 100.0, 99.0, T0, T0, pnl=pnl, fees=fees)
        publish_event(bus, topics.TRADE_CLOSED, trade, source="t")
    assert ctl.evaluate(T0) is RiskMode.CONSERVATIVE
    assert ctl.last_reasons == ("4 consecutive losses >= 4",)
    assert ctl.market_regime is Regime.VOLATILE
