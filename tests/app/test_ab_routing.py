"""Module 18 in route mode, in the main job: a declared experiment whose allocated arm trades
the real account. Production's own orders stop on the symbols the router owns; after every
candle the real account holds the allocated arm's position (scaled, a candle late) through
production's risk engine, kill switch included; each routed position's unit names its arm."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app import challengers
from quantum_trader.app.ab_testing import ABTesting, attach_ab_testing
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.runtime import Runtime
from quantum_trader.config import load_settings
from quantum_trader.decision.shadow import ShadowAccount
from quantum_trader.domain.orders import OrderStatus, OrderType
from quantum_trader.engine.session import TradingSession
from quantum_trader.risk.kill_switch import KillSwitchState
from quantum_trader.status import ModuleState

runner = CliRunner()
EXPERIMENT = "route_rules_vs_q"


@dataclass
class Candle:
    """What the probe saw after the router acted on one candle of one symbol."""

    symbol: str
    close_time: int
    arms: dict[str, float]  # each arm's quantity
    slot: str | None  # the arm whose unit holds the symbol
    unit: str | None
    real: float  # the real account's quantity
    real_equity: float
    arm_equity: dict[str, float]


@dataclass
class Probe:
    """Follows the session after the router (a spy on ``attach_ab_testing``): what the arms,
    the experiment's slots and the real account hold at each candle's end. With
    ``engage_after_an_arms_entry`` it engages the kill switch in the run's database, as the
    CLI would, at the end of the first candle on which an arm sent an entry on a free slot."""

    ab: ABTesting | None = None
    session: TradingSession | None = None
    rt: Runtime | None = None
    arms: tuple[ShadowAccount, ...] = ()
    seen: list[Candle] = field(default_factory=list)
    engage_after_an_arms_entry: bool = False
    engaged_at: int | None = None
    units_before: set[str] = field(default_factory=set)

    def on_bar(self, symbol: str, open_time: int, close_time: int, *_: float) -> None:
        assert self.ab is not None and self.session is not None
        feed = self.ab.feed
        slot = feed.slots.get(symbol)
        self.seen.append(
            Candle(
                symbol,
                close_time,
                {arm: book.quantity(symbol) for arm, book in feed.books.items()},
                None if slot is None else slot.arm,
                None if slot is None else slot.unit,
                self.session.portfolio.quantity(symbol),
                self.session.portfolio.equity,
                {arm: book.equity for arm, book in feed.books.items()},
            )
        )
        engage = self.engage_after_an_arms_entry and self.engaged_at is None and slot is None
        if engage and any(_entry_working(a, symbol) for a in self.arms):
            assert self.rt is not None
            state = KillSwitchState(True, "test: the operator stops trading", "cli:test",
                                    close_time)  # fmt: skip
            SqlRiskRepository(self.rt.db).append_kill_switch(state)
            self.engaged_at = close_time
            self.units_before = set(self.ab.experiment.assignments)


def _entry_working(account: ShadowAccount, symbol: str) -> bool:
    """Whether ``account`` is flat on ``symbol`` with an entry order waiting to fill."""
    if account.portfolio.quantity(symbol) != 0.0:
        return False
    return any(
        o.symbol == symbol and not o.reduce_only and not o.status.is_terminal
        for o in account.orders.orders.values()
    )


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    seen = Probe()
    attach = attach_ab_testing

    def spy(
        rt: Runtime, session: TradingSession, lifecycle: Any, qlearning: Any, *args: Any
    ) -> ABTesting | None:
        ab = attach(rt, session, lifecycle, qlearning, *args)
        seen.ab, seen.session, seen.rt = ab, session, rt
        pair = next(iter(qlearning.trading.active.values()))
        seen.arms = (pair.twin, pair.challenger)
        session.follow(seen.on_bar)  # after the feed and the router
        return ab

    monkeypatch.setattr(challengers, "attach_ab_testing", spy)
    return seen


@pytest.fixture
def replay(clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> pytest.MonkeyPatch:
    """A 4-day offline replay of the shared data with the tree members trained on 30 days, the
    Q-learner on: the arms are the rule twin and the Q-learner of a declared route experiment
    (a fixed 50/50 split)."""
    for name, value in {
        "QT_HOME": str(tmp_path / "home"),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "4",
        "QT_TRAIN_DAYS": "30",
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "CONTINUOUS_LEARNING_ENABLED": "false",
        "QT_QLEARNING": "true",
        "QT_AB_EXPERIMENT": EXPERIMENT,
    }.items():
        clean_env.setenv(name, value)
    args = ["experiments", "create", EXPERIMENT, "--arm", "rules:strategy", "--arm", "qlearning"]
    created = runner.invoke(app, [*args, "--allocation", "fixed", "--mode", "route"])
    assert created.exit_code == 0, created.output
    return clean_env


def _decisions(run: RunResult) -> list[dict[str, Any]]:
    """The real account's risk decisions on the router's orders, oldest first."""
    rows = SqlRiskRepository(run.runtime.db).recent_decisions(limit=1_000_000)
    return [r for r in reversed(rows) if f"experiment {EXPERIMENT}" in r["intent_json"]]


def _unit_of(reason: str) -> tuple[str, str] | None:
    """(unit, arm) named by a router order's reason ("experiment X, unit U (arm)")."""
    found = re.search(r"unit (\S+) \((\w+)\)", reason)
    return None if found is None else (found[1], found[2])


@pytest.mark.slow
def test_the_real_account_holds_the_allocated_arms_position_a_candle_late(
    replay: pytest.MonkeyPatch, probe: Probe
) -> None:
    run = run_main_job(load_settings())
    assert probe.session is not None
    status = {s.name: s for s in run.runtime.status.snapshot()}["ab_testing"]
    assert status.state is ModuleState.ACTIVE and "route mode" in status.reason, status.reason
    routing = run.summary["ab_testing"]["routing"]
    assert routing["sent"] >= 4 and routing["refused"] == 0, routing

    # production decided but sent nothing: every order on the real account is the router's or
    # a bracket of one (the decision path's orders carry their decision, the router's none)
    assert routing["held_entries"] > 0 and run.summary["orders_sent"] == 0
    assert run.session is not None and run.session.orders
    assert all(o.decision is None for o in run.session.orders)
    market = [o for o in run.session.orders if o.order_type is OrderType.MARKET]
    assert all(o.reason.startswith(f"experiment {EXPERIMENT}") for o in market)

    # per symbol and candle: the real position is the one the allocated arm held at the end of
    # the candle before, scaled by the equity ratio taken when its unit began and floored to
    # the venue's step; an entry the risk engine trimmed holds the approved quantity instead;
    # a protective exit (the arm's bracket) may close it at the same candle as the arm's
    trimmed = {
        _unit_of(r["intent_json"])[0]: r["final_quantity"]  # type: ignore[index]
        for r in _decisions(run)
        if r["outcome"] == "TRIMMED"
    }
    protective = {
        (o.symbol, o.updated_at or 0)
        for o in run.session.orders
        if o.status is OrderStatus.FILLED and o.reduce_only and o.order_type is not OrderType.MARKET
    }
    specs = probe.session.orders.specs
    ratio: dict[str, float] = {}
    checked = held = protected = 0
    by_symbol: dict[str, list[Candle]] = {}
    for c in probe.seen:
        by_symbol.setdefault(c.symbol, []).append(c)
        if c.unit is not None and c.slot is not None and c.unit not in ratio:
            ratio[c.unit] = c.real_equity / c.arm_equity[c.slot]
    for symbol, candles in by_symbol.items():
        step = specs[symbol].floor_quantity
        for before, now in itertools.pairwise(candles):
            expected = 0.0
            if before.slot is not None and before.unit is not None:
                quantity = before.arms[before.slot]
                size = trimmed.get(before.unit, step(abs(quantity) * ratio[before.unit]))
                expected = math.copysign(step(size), quantity)
                held += 1
            stopped = any(before.close_time < t <= now.close_time for s, t in protective
                          if s == symbol)  # fmt: skip
            if stopped and now.real == 0.0 and before.slot is not None:
                assert now.arms[before.slot] == 0.0, (before, now)  # the arm's fired too
                protected += 1
            else:
                assert now.real == pytest.approx(expected, abs=1e-9), (before, now)
            checked += 1
    # every candle checked, most of them under a unit; the bracket exception is rare
    assert checked == len(probe.seen) - len(by_symbol) and held > 20 and protected * 4 < held

    # each routed entry names its unit and arm; the stored assignment gives that unit to that
    # arm, which held the symbol on that side when the order went out
    store = SqlExperimentStore(run.runtime.db).load(EXPERIMENT)
    assert store is not None
    assigned = {a.unit: a.arm for a in store.assignments}
    at = {(c.symbol, c.close_time): c for c in probe.seen}
    entries = [o for o in market if not o.reduce_only]
    assert len(entries) >= 4
    for order in entries:
        named = _unit_of(order.reason)
        assert named is not None, order.reason
        unit, arm = named
        assert assigned[unit] == arm
        candle = at[(order.symbol, order.created_at)]
        assert candle.unit == unit and candle.slot == arm
        assert candle.arms[arm] * order.side.sign > 0


@pytest.mark.slow
def test_with_the_kill_switch_engaged_the_routers_entries_are_rejected(
    replay: pytest.MonkeyPatch, probe: Probe
) -> None:
    """The operator engages the kill switch just after an arm sent an entry (as the CLI does,
    in the run's database): the arm's order fills, its unit is drawn, and the router's entry
    for it goes to production's risk engine, which rejects it; nothing reaches the venue."""
    probe.engage_after_an_arms_entry = True
    run = run_main_job(load_settings())
    assert probe.engaged_at is not None
    routing = run.summary["ab_testing"]["routing"]
    assert routing["refused"] >= 1, routing
    after = [r for r in _decisions(run) if r["time"] > probe.engaged_at]
    assert after and all(r["outcome"] == "REJECTED" for r in after)
    assert all(any("HALTED" in why for why in r["reasons"]) for r in after)
    assert any(_unit_of(r["intent_json"]) is not None for r in after)  # an entry for a unit
    assert run.session is not None
    # nothing the router asked for reached the venue after it: only the protective orders of
    # entries sent before it (placed when they fill)
    sent_after = [o for o in run.session.orders if o.created_at > probe.engaged_at]
    assert all(o.reduce_only and o.order_type is not OrderType.MARKET for o in sent_after)
    # the units drawn after it: their arm holds the symbol, the real account does not
    late = [
        (c.real, c.arms[c.slot])
        for c in probe.seen
        if c.close_time > probe.engaged_at and c.slot is not None
        and c.unit not in probe.units_before
    ]  # fmt: skip
    assert late and all(real == 0.0 and arm != 0.0 for real, arm in late)
