"""Issue 23: an earlier run's resting entry, adopted at the handover, fills later on the venue;
the poll books it and the position it opens gets the lineage's stop and take-profit
(``protective_stops.AdoptedEntries``, wired in ``VenueWiring.hand_over``), once.

The crashed run (the crash harness's process) rests a limit buy of 0.004 BTC at 49,500 with a
bracket (stop-loss 48,500, take-profit 51,000) and dies: its journal holds the entry and the
bracket, the venue holds the resting order, nobody holds a position.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.execution.order_manager import Bracket
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import VenueOrder
from tests.live.crash_harness import TradingProcess, open_venue
from tests.live.test_adopted_stops import DECISION, _hand_over, _stops

ENTRY, STOP, TARGET = 49_500.0, 48_500.0, 51_000.0


def _crashed_with_a_resting_entry(double: ExchangeDouble, db_url: str, bracket: Bracket) -> str:
    open_database(db_url)
    earlier = TradingProcess(create_db_engine(db_url), open_venue(double.base_url))
    earlier.start_fresh(double.book.wallet)
    entry = earlier.orders.submit(
        "BTCUSDT",
        Side.BUY,
        0.004,
        OrderType.LIMIT,
        price=ENTRY,
        bracket=bracket,
        tag="entry",
        decision=DECISION,
    )
    earlier.commit()  # then the process dies: the entry rests on the venue
    assert entry.status is OrderStatus.NEW and "BTCUSDT" not in double.book.positions
    return entry.client_order_id


def _targets(double: ExchangeDouble) -> list[VenueOrder]:
    return [o for o in double.book.orders.values() if o.type == "LIMIT" and o.reduce_only]


def test_a_lineage_entry_filled_after_the_handover_gets_its_stop_and_take_profit_once(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    cid = _crashed_with_a_resting_entry(double, db_url, Bracket(STOP, TARGET))
    run = _hand_over(double, risk_pct=0.06, db_url=db_url)
    live, portfolio = run.wiring.holder[0].live, run.wiring.holder[0].portfolio
    assert live is not None
    adopted = run.orders.get(cid)
    assert adopted is not None and adopted.status is OrderStatus.NEW  # adopted, still resting
    assert not _stops(double) and not _targets(double)  # no position yet: nothing to protect

    double.book.set_mark("BTCUSDT", 49_400.0, run.clock.now() + 60_000)  # through the limit
    assert double.book.positions["BTCUSDT"].amount == pytest.approx(0.004)
    live.poll()
    assert portfolio.quantity("BTCUSDT") == pytest.approx(0.004)
    filled = run.orders.get(cid)
    assert filled is not None and filled.status is OrderStatus.FILLED
    (stop,) = _stops(double)
    assert (stop.side, stop.type, stop.stop_price, stop.reduce_only, stop.status) == (
        "SELL",
        "STOP_MARKET",
        STOP,  # the decision's, not the policy's (6 % under the entry: 46,530)
        True,
        "NEW",
    )
    assert stop.quantity == pytest.approx(0.004)
    (target,) = _targets(double)
    assert (target.side, target.price, target.status) == ("SELL", TARGET, "NEW")
    assert target.quantity == pytest.approx(0.004)
    for placed in (stop, target):
        journal = run.orders.get(placed.client_order_id)
        assert journal is not None and not journal.status.is_terminal
    assert run.status.status.counters["adopted_stop_placed"] == 1
    assert run.status.status.counters["adopted_take_profit_placed"] == 1

    for _ in range(2):  # later polls and the next reconciliation place nothing more
        live.poll()
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())
    assert len(_stops(double)) == 1 and len(_targets(double)) == 1
    assert double.requests["POST /fapi/v1/algoOrder"] == 1
    assert double.requests["POST /fapi/v1/order"] == 2  # the crashed entry, the take-profit
    assert not run.switch.engaged


def test_without_a_lineage_stop_the_late_fill_gets_the_policys_stop_and_no_take_profit(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    """The earlier run's entry asked for no bracket: the risk policy prices the stop (2 % under
    the venue's entry price of 49,500: 48,510), and there is no take-profit to send."""
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_with_a_resting_entry(double, db_url, Bracket())
    run = _hand_over(double, risk_pct=0.02, db_url=db_url)
    live = run.wiring.holder[0].live
    assert live is not None
    double.book.set_mark("BTCUSDT", 49_400.0, run.clock.now() + 60_000)
    live.poll()
    (stop,) = _stops(double)
    assert (stop.side, stop.stop_price) == ("SELL", 48_510.0)
    assert stop.quantity == pytest.approx(0.004)
    assert not _targets(double)
    live.poll()
    assert len(_stops(double)) == 1 and not run.switch.engaged
