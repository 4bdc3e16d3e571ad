"""The drawdown breaker's way out of REDUCING: a flat cool-down in engine time re-baselines its
peak; HALTED stays latched and measured from the all-time peak; the peaks survive a restart."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.run_scope import RunScopedRiskJournal
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.state import TradingState
from quantum_trader.status.registry import StatusRegistry
from tests.risk.fakes import FakePortfolio, MemoryJournal, MemoryKillSwitchStore
from tests.risk.helpers import T0, buy, engine, portfolio

COOLDOWN_H = 72
CONFIG = RiskConfig(reducing_cooldown_ms=COOLDOWN_H * MS_PER_HOUR)


def _hour(clock: SimulatedClock, pf: FakePortfolio, h: int) -> int:
    """Move the engine clock to hour ``h`` after T0 (candles fresh at that time)."""
    now = T0 + h * MS_PER_HOUR
    clock.advance_to(now)
    pf.candle_close.update(dict.fromkeys(pf.candle_close, now))
    return now


def _losing_account() -> tuple[FakePortfolio, SimulatedClock]:
    """A long that lost 12 % of a 10,000 account (REDUCING), still open."""
    pf = portfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.05, 50_000.0)
    pf.set_equity(8_800.0)
    return pf, SimulatedClock(T0)


def test_flat_for_the_cooldown_releases_and_rebaselines_the_peak() -> None:
    pf, clock = _losing_account()
    journal = MemoryJournal()
    registry = StatusRegistry(clock)
    eng = RiskEngine(
        config=CONFIG,
        portfolio=pf,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(MemoryKillSwitchStore(), clock),
        journal=journal,
        clock=clock,
        status=registry,
    )
    assert eng.refresh_state() is TradingState.REDUCING
    _hour(clock, pf, 5)
    pf.positions.clear()  # the losing long closed at hour 5: flat from here
    assert eng.refresh_state() is TradingState.REDUCING
    _hour(clock, pf, 5 + COOLDOWN_H - 1)
    assert eng.refresh_state() is TradingState.REDUCING  # one hour short
    assert eng.evaluate(buy(qty=0.001)).outcome is Outcome.REJECTED
    _hour(clock, pf, 5 + COOLDOWN_H)
    d = eng.evaluate(buy(qty=0.001))
    assert d.outcome is Outcome.APPROVED and d.trading_state is TradingState.ACTIVE
    assert (eng.breaker.breaker_peak, eng.breaker.all_time_peak) == (8_800.0, 10_000.0)
    assert eng.breaker.releases == 1
    change = journal.changes[-1]
    assert (change.previous, change.state) == (TradingState.REDUCING, TradingState.ACTIVE)
    assert "after 72 h flat" in change.reason and "re-baselined to 8,800.00" in change.reason
    saved = journal.breaker[-1]
    assert (saved.breaker_peak, saved.all_time_peak, saved.releases) == (8_800.0, 10_000.0, 1)
    counters = registry.get("risk_safety").status.counters
    assert counters["breaker_releases"] == 1 and counters["breaker_peak_equity"] == 8_800
    assert counters["all_time_peak_equity"] == 10_000
    # the drawdown is now measured from the equity at release: 9 % below it is not REDUCING
    pf.set_equity(8_800.0 * 0.91)  # 19.9 % below the all-time peak: neither halted
    assert eng.refresh_state() is TradingState.ACTIVE
    pf.set_equity(9_500.0)  # a new high since the release becomes the breaker peak
    assert eng.refresh_state() is TradingState.ACTIVE
    assert (eng.breaker.breaker_peak, eng.breaker.all_time_peak) == (9_500.0, 10_000.0)
    pf.set_equity(9_500.0 * 0.89)  # 11 % below it: REDUCING again
    assert eng.refresh_state() is TradingState.REDUCING


def test_an_open_position_restarts_the_flat_clock() -> None:
    pf, clock = _losing_account()
    eng = engine(pf, clock, config=CONFIG)
    assert eng.refresh_state() is TradingState.REDUCING
    pf.positions.clear()
    _hour(clock, pf, 1)
    eng.refresh_state()  # flat from hour 1
    _hour(clock, pf, 40)
    pf.positions["ETHUSDT"] = OpenPosition(-0.1, 3_000.0)  # a position again at hour 40
    assert eng.refresh_state() is TradingState.REDUCING
    _hour(clock, pf, 41)
    pf.positions.clear()  # flat again from hour 41
    eng.refresh_state()
    _hour(clock, pf, 1 + COOLDOWN_H)  # 72 h after the first flat reading, 32 h after the second
    assert eng.refresh_state() is TradingState.REDUCING
    _hour(clock, pf, 41 + COOLDOWN_H)
    assert eng.refresh_state() is TradingState.ACTIVE
    assert eng.breaker.releases == 1


def test_halted_never_releases_by_itself_and_reset_rebaselines() -> None:
    pf, clock = _losing_account()
    eng = engine(pf, clock, config=CONFIG)
    pf.set_equity(7_500.0)  # 25 % from the all-time peak
    assert eng.refresh_state() is TradingState.HALTED
    pf.positions.clear()
    for h in range(1, 10 * COOLDOWN_H, 7):
        _hour(clock, pf, h)
        assert eng.refresh_state() is TradingState.HALTED
    assert eng.breaker.releases == 0 and eng.halt_latched
    # a person resumes: the peaks start again from the equity at the reset, so the halt does
    # not latch again at once (it would, measured from 10,000)
    assert eng.reset_halt(by="ops", reason="reviewed") is TradingState.ACTIVE
    assert (eng.breaker.breaker_peak, eng.breaker.all_time_peak) == (7_500.0, 7_500.0)
    pf.set_equity(7_500.0 * 0.79)
    assert eng.refresh_state() is TradingState.HALTED


def test_release_under_a_daily_loss_stays_reducing_for_that_reason() -> None:
    pf, clock = _losing_account()
    eng = engine(pf, clock, config=CONFIG)
    assert eng.refresh_state() is TradingState.REDUCING
    pf.positions.clear()
    eng.refresh_state()
    pf.daily = -600.0  # the day's loss over 5 % when the cool-down ends
    _hour(clock, pf, COOLDOWN_H)
    assert eng.refresh_state() is TradingState.REDUCING
    assert eng.breaker.releases == 1 and "daily loss" in eng.context(buy()).state_reason
    pf.daily = 0.0
    assert eng.refresh_state() is TradingState.ACTIVE


def test_breaker_memory_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'breaker.sqlite'}"
    db = open_database(url)
    repo = SqlRiskRepository(db)
    pf, clock = _losing_account()
    eng = engine(pf, clock, config=CONFIG, journal=repo, store=repo)
    eng.refresh_state()
    pf.positions.clear()
    eng.refresh_state()
    _hour(clock, pf, COOLDOWN_H)
    assert eng.refresh_state() is TradingState.ACTIVE
    pf.set_equity(9_000.0)  # a new high since the release: the breaker peak follows it
    eng.refresh_state()
    db.dispose()

    # a new process: its portfolio's own peak is the account's all-time 10,000
    db2 = open_database(url)
    repo2 = SqlRiskRepository(db2)
    pf2 = portfolio()
    pf2.peak, pf2.equity_now = 10_000.0, 8_000.0
    eng2 = engine(pf2, SimulatedClock(clock.now()), config=CONFIG, journal=repo2, store=repo2)
    assert (eng2.breaker.breaker_peak, eng2.breaker.all_time_peak) == (9_000.0, 10_000.0)
    assert eng2.breaker.releases == 1
    # 8,000 is 11.1 % below the restored breaker peak 9,000 (20 % below 10,000 would halt)
    assert eng2.refresh_state() is TradingState.REDUCING
    assert eng2.breaker.breaker_peak == 9_000.0  # not the portfolio's 10,000
    db2.dispose()


def test_run_scoped_journal_keeps_breaker_memory_to_the_run(sqlite_engine: Engine) -> None:
    repo = SqlRiskRepository(sqlite_engine)
    pf, clock = _losing_account()
    engine(pf, clock, config=CONFIG, journal=repo, store=repo).refresh_state()
    assert repo.latest_breaker() is not None  # an earlier run's memory in the database
    replaying = [True]
    scoped = RunScopedRiskJournal(repo, replaying=lambda: replaying[0])
    assert scoped.latest_breaker() is None  # never adopted by a new run
    eng = engine(portfolio(), SimulatedClock(T0), config=CONFIG, journal=scoped, store=repo)
    assert eng.breaker.all_time_peak == 0.0
    eng.refresh_state()
    ours = scoped.latest_breaker()
    assert ours is not None and ours.all_time_peak == 10_000.0
    assert repo.latest_breaker() != ours  # batched while the replay lasts
    scoped.flush()
    assert repo.latest_breaker() == ours
    replaying[0] = False  # live: written through
    pf2 = portfolio()
    eng2 = engine(pf2, SimulatedClock(T0), config=CONFIG, journal=scoped, store=repo)
    pf2.set_equity(11_000.0)
    eng2.refresh_state()
    latest = repo.latest_breaker()
    assert latest is not None and latest.all_time_peak == 11_000.0
