"""``kill -9`` at three fixed points of an order's life, then a restart (issue 23): exactly one
venue order per intent, and the ledger equal to the venue after reconciliation.

The killed process is a real child process (``tests/live/crash_process.py``) that sends itself
SIGKILL at the point; it talks HTTP to the exchange double running here, and commits its journal
to a SQLite file. The restart is this test building a fresh process's parts from that file only
(``tests/live/crash_harness.py``) and running ``execution/restart.py``'s ``recover``; then the
engine decides the interrupted candle again (and the one before it, which the journal holds).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.domain.orders import OrderStatus, Side
from quantum_trader.execution.client_ids import IntentIds
from quantum_trader.execution.reconciliation import Discrepancy, Resolution, local_book, reconcile
from quantum_trader.execution.restart import recover
from tests.exchange_double import ExchangeDouble
from tests.live.crash_harness import (
    FIRST,
    LINEAGE_KEY,
    RUN_ID,
    SECOND,
    Intent,
    TradingProcess,
    open_venue,
)
from tests.live.crash_process import POINTS

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000


def _intent_ids(intent: Intent) -> tuple[str, str]:
    """The entry's and the take-profit's client ids, derived here from the intent alone."""
    ids = IntentIds(LINEAGE_KEY)
    exit_side = "SELL" if intent.side.value == "BUY" else "BUY"
    return (
        ids.client_order_id(intent.symbol, intent.decision_id, "entry", intent.side.value, 0),
        ids.client_order_id(intent.symbol, intent.decision_id, "take_profit", exit_side, 0),
    )


def _kill_at(point: str, double: ExchangeDouble, db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.live.crash_process", double.base_url, db_url, point],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr[-2000:])
    assert done.stdout.strip() == f"killed at {point}"


@pytest.mark.parametrize("point", POINTS)
def test_a_process_killed_at_a_fixed_point_restarts_with_one_venue_order_per_intent(
    double: ExchangeDouble, tmp_path: Path, point: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    open_database(db_url)  # created and migrated once, before the child writes to it
    _kill_at(point, double, db_url)
    first, second = _intent_ids(FIRST), _intent_ids(SECOND)
    on_venue = {o.client_order_id for o in double.book.orders.values()}
    # what the kill left: the second entry reached the venue only when killed after its ack
    assert on_venue == set(first) | ({second[0]} if point == "after_ack" else set())

    restarted = TradingProcess(create_db_engine(db_url), open_venue(double.base_url))
    last_commit = restarted.restore()
    assert restarted.orders.unsent == ({second[0]} if point != "before_commit" else set())
    halts: list[str] = []
    recovery = recover(
        restarted.orders,
        restarted.book,
        since_ms=last_commit - HOUR,
        at=restarted.clock.now(),
        halt=halts.append,
    )
    restarted.commit()
    answered = [o.client_order_id for o in recovery.answered]
    assert answered == ([] if point == "before_commit" else [second[0]])
    # the engine decides the interrupted candle again, and the one the journal already holds
    again = [restarted.decide(FIRST), restarted.decide(SECOND)]
    restarted.commit()

    # exactly one venue order per intent: the entries and their take-profits, under the ids
    # derived from the intents, nothing sent twice and no second order under another id
    venue_orders = Counter(o.client_order_id for o in double.book.orders.values())
    assert venue_orders == Counter({cid: 1 for cid in (*first, *second)})
    assert double.book.duplicate_attempts == 0  # every lost answer was looked up, not re-sent
    assert [o.client_order_id for o in again] == [first[0], second[0]]
    assert all(o.status is OrderStatus.FILLED for o in again)

    # the ledger matches the venue: positions, wallet, fills, and the journal's order states
    _assert_book_equals_venue(restarted, double)
    assert not halts and not recovery.halted
    assert not [d for d in recovery.report.differences if d.kind is Discrepancy.FOREIGN_ORDER]


def _assert_book_equals_venue(process: TradingProcess, double: ExchangeDouble) -> None:
    book = double.book
    venue_positions = {s: p for s, p in book.positions.items() if p.amount != 0}
    assert {s: p.quantity for s, p in process.portfolio.positions().items() if p.quantity} == {
        s: pytest.approx(p.amount) for s, p in venue_positions.items()
    }
    for symbol, pos in venue_positions.items():
        assert process.portfolio.positions()[symbol].entry_price == pytest.approx(pos.entry)
    assert process.portfolio.wallet_balance == pytest.approx(book.wallet, abs=1e-9)
    by_order_id = {o.order_id: o.client_order_id for o in book.orders.values()}
    trades = {f"{by_order_id[t.order_id]}#{t.trade_id}" for t in book.trades}
    stored = process.store.load(RUN_ID)
    assert stored is not None
    assert [f.fill_id for f in stored.fills] and {f.fill_id for f in stored.fills} == trades
    assert len(stored.fills) == len(trades)  # each fill journalled once
    for order in book.orders.values():
        held = stored.orders[order.client_order_id]
        assert held.status.value == order.status and held.filled_quantity == pytest.approx(
            order.filled
        )
    # and a reconciliation from the first fill on finds nothing left to adopt or halt on
    report = reconcile(
        process.book.remote,
        local_book(process.orders, process.portfolio),
        since_ms=0,
        at=process.clock.now(),
    )
    assert report.clean, report.differences


def test_a_new_run_of_the_lineage_adopts_the_earlier_runs_working_order(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    """What ``run --venue`` does after a crash (a new run id, an empty journal, the venue's
    account adopted at the handover): the earlier run's resting take-profit is recognised as
    the lineage's by its id and adopted, not halted on as a foreign order; an account trading
    under another lineage key would have halted."""
    db_url = f"sqlite:///{tmp_path / 'earlier.sqlite'}"
    open_database(db_url)
    earlier = TradingProcess(create_db_engine(db_url), open_venue(double.base_url))
    earlier.start_fresh(double.book.wallet)
    earlier.decide(FIRST)  # entry filled, take-profit resting; then the process is gone
    tp = _intent_ids(FIRST)[1]
    for key, foreign in ((LINEAGE_KEY, False), ("testnet|another-account|db", True)):
        fresh = TradingProcess(create_db_engine("sqlite://"), open_venue(double.base_url))
        fresh.orders.run_id = "a-new-run"
        fresh.orders.use_intent_ids(IntentIds(key))
        handover = fresh.clock.now()  # the venue's balance and position taken over, as at
        fresh.portfolio.deposit(fresh.book.balance(), handover, "handover: venue balance")
        for symbol, pos in fresh.book.positions().items():  # the handover (handover.py)
            side = Side.BUY if pos.quantity > 0 else Side.SELL
            fresh.portfolio.apply_fill(
                symbol, side, abs(pos.quantity), pos.entry_price, 0.0, handover, "adopted"
            )
        report = reconcile(
            fresh.book.remote,
            local_book(fresh.orders, fresh.portfolio),
            since_ms=handover,
            at=handover,
        )
        expected = Discrepancy.FOREIGN_ORDER if foreign else Discrepancy.UNKNOWN_ORDER
        resolution = Resolution.HALT if foreign else Resolution.ADOPTED
        assert [(d.kind, d.subject, d.resolution) for d in report.differences] == [
            (expected, tp, resolution)
        ]
