"""Issue 23: a position adopted from the venue at the handover gets a protective stop on the
venue (``execution/protective_stops.py``, wired in ``VenueWiring.hand_over``), against the
exchange double over real ccxt, whose stops go to the algo-order API (``/fapi/v1/algoOrder``).

The crashed run is the crash harness's process (``crash_harness.py``), stopped by an exception
at the moment it would commit its stop-loss: its journal holds the entry, unanswered, with the
bracket the decision asked for, and the venue holds the filled position without a stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import pytest
import structlog

from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.app.venue import VenueWiring
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Order, OrderType, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.execution.client_ids import IntentIds
from quantum_trader.execution.handover import PaperThenVenue
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import Bracket, OrderManager
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.rl.parts import MemoryKillSwitchStore
from quantum_trader.status.registry import ModuleHandle, ModuleState, StatusRegistry
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import VenueOrder
from tests.execution.helpers import make_desk
from tests.live.crash_harness import LINEAGE_KEY, RUN_ID, TradingProcess, open_venue
from tests.risk.helpers import engine, portfolio

DECISION = DecisionRef("BTCUSDT@1764892800000", "CrashTest", "fixed", "fixed")


class Crash(Exception):
    """The process dies here (what ``kill -9`` does, without a child process)."""


def _crashed_before_its_stop(double: ExchangeDouble, db_url: str) -> None:
    """A lineage run buys 0.004 BTC with a stop-loss at 49,000 and dies when it would commit
    the stop: the venue holds the long, without a stop."""
    open_database(db_url)
    earlier = TradingProcess(create_db_engine(db_url), open_venue(double.base_url))
    earlier.start_fresh(double.book.wallet)

    def before(order: Order) -> None:
        if order.reason == "stop_loss":
            raise Crash(order.client_order_id)

    earlier.write_ahead(before, lambda _order: None)
    with pytest.raises(Crash):
        earlier.orders.submit(
            "BTCUSDT",
            Side.BUY,
            0.004,
            OrderType.MARKET,
            bracket=Bracket(stop_loss=49_000.0, take_profit=51_000.0),
            tag="crash-test: entry",
            decision=DECISION,
        )
    assert double.book.positions["BTCUSDT"].amount == pytest.approx(0.004)
    assert not double.book.algo_orders


def _by_hand(double: ExchangeDouble, symbol: str, side: str, qty: float, cid: str) -> None:
    """A position opened outside this system (a person at the venue's website)."""
    with double.book.lock:
        double.book.create(
            symbol=symbol,
            side=side,
            type="MARKET",
            quantity=qty,
            price=0.0,
            reduce_only=False,
            client_order_id=cid,
            now_ms=int(time.time() * 1000),
        )


def _risk(clock: SimulatedClock, stop_loss_pct: float) -> RiskEngine:
    policy = FixedPolicySource(TradingPolicy(stop_loss_pct=stop_loss_pct))
    return engine(portfolio(), clock, policy=policy)


class NewRun(NamedTuple):
    status: ModuleHandle
    orders: OrderManager
    switch: KillSwitch
    scheduler: Scheduler
    clock: SimulatedClock
    wiring: VenueWiring


def _hand_over(
    double: ExchangeDouble,
    *,
    risk_pct: float | None,
    db_url: str | None = None,
    marks: dict[str, float] | None = None,
) -> NewRun:
    """A new run's handover to the double (as ``run --venue`` after a crash): the crashed
    run's journal in ``db_url``, the risk policy's ``stop_loss_pct`` (None: no risk engine)."""
    desk = make_desk(10_000.0)
    desk.clock.advance_to(int(time.time() * 1000) + 1_000)  # after everything the venue did
    for symbol, price in (marks or {}).items():
        desk.portfolio.mark(symbol, price)
    status = StatusRegistry(desk.clock).register("execution", enabled=True, reason="test")
    switch = KillSwitch(MemoryKillSwitchStore(), desk.clock)
    wiring = VenueWiring(
        "testnet",
        reconcile_every_ms=3_600_000,
        kill_switch=switch,
        lineage_key=LINEAGE_KEY,
        crashed_runs=(RUN_ID,) if db_url else (),
    )
    remote = open_venue(double.base_url)
    book = PaperThenVenue(
        desk.exchange,
        desk.portfolio,
        lambda: VenueBook(remote, desk.portfolio, BINANCE_USDM, desk.clock),
    )
    wiring.holder.append(book)
    orders = OrderManager(book, BINANCE_USDM, desk.clock, desk.bus, "new-run", mark=lambda _s: 0.0)
    risk = _risk(desk.clock, risk_pct) if risk_pct is not None else None
    store = SqlExecutionStore(create_db_engine(db_url)) if db_url else None
    scheduler = Scheduler(desk.clock)
    wiring.attach(orders, scheduler, risk, store=store, status=status)
    wiring.hand_over(desk.clock.now())
    return NewRun(status, orders, switch, scheduler, desk.clock, wiring)


def _stops(double: ExchangeDouble) -> list[VenueOrder]:
    return list(double.book.algo_orders.values())


def test_a_lineage_position_gets_the_stop_of_the_decision_that_opened_it(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    # the policy would say 3,000 below the entry: the decision's own stop wins
    status, orders, switch, *_ = _hand_over(double, risk_pct=0.06, db_url=db_url)
    (stop,) = _stops(double)
    assert (stop.symbol, stop.side, stop.type, stop.status) == (
        "BTCUSDT",
        "SELL",
        "STOP_MARKET",
        "NEW",
    )
    assert stop.stop_price == 49_000.0 and stop.reduce_only
    assert stop.quantity == pytest.approx(0.004)
    assert stop.client_order_id.startswith(IntentIds(LINEAGE_KEY).prefix)
    assert orders.get(stop.client_order_id) is not None  # journalled as this run's order
    assert status.status.counters["adopted_protected"] == 1
    assert status.status.counters["adopted_stop_placed"] == 1
    assert "adopted_naked" not in status.status.counters
    assert status.status.state is not ModuleState.DEGRADED
    assert not switch.engaged  # the handover's reconciliation found the stop in the journal
    # and the decision's take-profit, sent as a bracket sends one: a reduce-only limit
    (target,) = [o for o in double.book.orders.values() if o.type == "LIMIT"]
    assert (target.side, target.price, target.reduce_only, target.status) == (
        "SELL",
        51_000.0,
        True,
        "NEW",
    )
    assert target.quantity == pytest.approx(0.004)
    assert target.client_order_id.startswith(IntentIds(LINEAGE_KEY).prefix)
    assert orders.get(target.client_order_id) is not None
    assert status.status.counters["adopted_take_profit_placed"] == 1
    # the crashed run's entry and the take-profit, nothing else
    assert double.requests["POST /fapi/v1/order"] == 2


def test_a_foreign_position_gets_the_risk_policy_stop(double: ExchangeDouble) -> None:
    _by_hand(double, "ETHUSDT", "SELL", 0.05, "by-hand-1")
    status, *_ = _hand_over(double, risk_pct=0.02)
    (stop,) = _stops(double)
    # no decision, no take-profit: the policy has no distance to invent one from
    assert not double.book.open_orders(None)
    assert not any("take_profit" in k for k in status.status.counters)
    # a short at 3,000: 2 % above the entry, on the tick grid
    assert (stop.symbol, stop.side, stop.stop_price) == ("ETHUSDT", "BUY", 3_060.0)
    assert stop.quantity == pytest.approx(0.05) and stop.reduce_only
    assert status.status.counters["adopted_stop_placed"] == 1


def test_without_a_price_the_position_is_reported_naked(double: ExchangeDouble) -> None:
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "by-hand-2")
    with structlog.testing.capture_logs() as logs:
        status, *_ = _hand_over(double, risk_pct=None)
    assert not _stops(double)  # no invented price
    assert status.status.counters["adopted_naked"] == 1
    assert "adopted_protected" not in status.status.counters
    assert status.status.state is ModuleState.DEGRADED
    assert "naked position" in status.status.reason and "ETHUSDT" in status.status.reason
    assert "no risk policy" in status.status.reason
    (line,) = [e for e in logs if e["event"] == "venue.protective_stop"]
    assert (line["log_level"], line["outcome"], line["symbol"]) == ("warning", "naked", "ETHUSDT")


def test_a_stop_the_mark_has_crossed_is_not_placed(double: ExchangeDouble, tmp_path: Path) -> None:
    """The decision's stop (49,000) and the policy's (2 % under the entry at 50,000: 49,000)
    are both above the mark: the venue would trigger them at once. Naked, with both reasons."""
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    status, *_ = _hand_over(double, risk_pct=0.02, db_url=db_url, marks={"BTCUSDT": 48_500.0})
    assert not _stops(double)
    assert status.status.state is ModuleState.DEGRADED
    reason = status.status.reason
    assert "lineage: decision BTCUSDT@1764892800000" in reason
    assert "risk policy: stop_loss_pct 0.02" in reason
    assert reason.count("already crossed by the mark 48500") == 2


def test_a_working_stop_on_the_venue_is_kept_not_duplicated(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    """The earlier run placed its bracket (the algo order) and then stopped: the new run finds
    the stop among the venue's open orders and keeps it."""
    db_url = f"sqlite:///{tmp_path / 'earlier.sqlite'}"
    open_database(db_url)
    earlier = TradingProcess(create_db_engine(db_url), open_venue(double.base_url))
    earlier.start_fresh(double.book.wallet)
    earlier.orders.submit(
        "BTCUSDT",
        Side.BUY,
        0.004,
        bracket=Bracket(stop_loss=48_500.0),
        tag="entry",
        decision=DECISION,
    )
    earlier.commit()
    (placed,) = _stops(double)
    status, _orders, switch, *_ = _hand_over(double, risk_pct=0.02, db_url=db_url)
    assert _stops(double) == [placed] and placed.status == "NEW"
    assert status.status.counters["adopted_stop_kept"] == 1
    assert "adopted_stop_placed" not in status.status.counters
    assert not switch.engaged  # the earlier stop is the lineage's: adopted, not foreign


def test_a_partly_covered_position_gets_a_stop_for_the_rest(double: ExchangeDouble) -> None:
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "by-hand-3")
    with double.book.lock:
        double.book.create(
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity=0.02,
            price=0.0,
            reduce_only=True,
            client_order_id=f"{IntentIds(LINEAGE_KEY).prefix}manual",
            now_ms=int(time.time() * 1000),
            stop_price=2_900.0,
            algo=True,
        )
    status, *_ = _hand_over(double, risk_pct=0.02)
    covering = sorted(_stops(double), key=lambda o: o.order_id)
    assert [(o.quantity, o.stop_price) for o in covering] == [
        (0.02, 2_900.0),
        (pytest.approx(0.03), 2_940.0),
    ]
    assert status.status.counters["adopted_stop_placed"] == 1


def test_two_restarts_still_leave_exactly_one_stop(double: ExchangeDouble) -> None:
    _by_hand(double, "ETHUSDT", "SELL", 0.05, "by-hand-4")
    first, *_ = _hand_over(double, risk_pct=0.02)
    second, *_ = _hand_over(double, risk_pct=0.02)
    third, *_ = _hand_over(double, risk_pct=0.02)
    assert len(_stops(double)) == 1 and len(double.book.open_algo_orders(None)) == 1
    assert first.status.counters["adopted_stop_placed"] == 1
    for again in (second, third):
        assert again.status.counters["adopted_stop_kept"] == 1
        assert "adopted_stop_placed" not in again.status.counters
    assert double.requests["POST /fapi/v1/algoOrder"] == 1


def test_a_position_reconciliation_adopts_later_gets_its_stop(double: ExchangeDouble) -> None:
    """After the handover an order of the lineage the journal never held fills (an earlier
    run's, heard of by no one): the scheduled reconciliation adopts its fill, and the position
    it opened gets the policy's stop."""
    run = _hand_over(double, risk_pct=0.02)
    assert not _stops(double) and "adopted_stop_placed" not in run.status.status.counters
    handover = run.clock.now()
    with double.book.lock:
        double.book.create(
            symbol="ETHUSDT",
            side="BUY",
            type="MARKET",
            quantity=0.05,
            price=0.0,
            reduce_only=False,
            client_order_id=f"{IntentIds(LINEAGE_KEY).prefix}earlier-entry",
            now_ms=handover + 60_000,
        )
    run.clock.advance_to(handover + 3_600_000)
    run.scheduler.run_due(run.clock.now())
    (stop,) = _stops(double)
    assert (stop.symbol, stop.side, stop.stop_price) == ("ETHUSDT", "SELL", 2_940.0)
    assert stop.quantity == pytest.approx(0.05)
    assert run.status.status.counters["adopted_stop_placed"] == 1
    assert not run.switch.engaged


def test_unreadable_open_orders_leave_the_position_naked_not_doubly_stopped(
    double: ExchangeDouble,
) -> None:
    """The venue's stops cannot be read (a 503): no stop is placed blind, the position is
    reported naked; read again, it gets its one stop."""
    _by_hand(double, "ETHUSDT", "SELL", 0.05, "by-hand-5")
    run = _hand_over(double, risk_pct=0.02)
    (placed,) = _stops(double)
    with double.book.lock:
        double.book.cancel(placed, int(time.time() * 1000))  # gone (cancelled by hand)
    double.faults.server_error_next = 1  # the next read: the open orders
    (naked,) = run.wiring.protect_adopted(["ETHUSDT"], run.clock.now())
    assert naked.outcome == "naked" and "open orders could not be read" in naked.reason
    assert len(_stops(double)) == 1 and run.status.status.state is ModuleState.DEGRADED
    (again,) = run.wiring.protect_adopted(["ETHUSDT"], run.clock.now())
    assert again.outcome == "placed" and again.stop_price == 3_060.0
    assert len(double.book.open_algo_orders("ETHUSDT")) == 1
