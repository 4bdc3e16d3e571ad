"""One trading process on a real venue, small enough to kill and start again: the account book
(:class:`Portfolio`), the :class:`VenueBook` over :class:`CcxtVenue` (real ccxt, talking HTTP to
the exchange double), the :class:`OrderManager` with the intent ids of the venue phase, and a
journal in a SQLite file written through the project's :class:`SqlExecutionStore`.

What the session's ``Checkpointer`` (engine/checkpoint.py) writes and reads back, this writes and
reads back in the same way — orders, fills, trades and ledger entries drained from the parts, and
the JSON snapshots of the portfolio and the order manager in one transaction — without the
replay's candles around it. Each commit is one transaction; ``write_ahead`` commits the intent
before its request (what ``kill -9`` at the three points of issue 23 is about).

Used by ``tests/live/crash_process.py`` (the process that is killed) and by the tests (the
process that starts again). Nothing here is a fake of the code under test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from quantum_trader.adapters.ccxt_venue_client import CcxtClientConfig, build_venue
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import WallClock
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Order, OrderType, Side
from quantum_trader.execution.ccxt_venue import CcxtVenue
from quantum_trader.execution.client_ids import IntentIds
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import Bracket, OrderManager
from quantum_trader.execution.request_budget import RequestBudget
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.portfolio.portfolio import Portfolio

RUN_ID = "crash-lineage"  # the lineage resumes its journal: the same run id after the restart
LINEAGE_KEY = "testnet|key|crash-harness"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
MARKS = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0}  # the double's default marks


@dataclass(frozen=True, slots=True)
class Intent:
    """What one decision wants: a market entry with a take-profit (the double has no stops)."""

    decision_id: str  # <symbol>@<close time>
    side: Side
    quantity: float
    take_profit: float

    @property
    def symbol(self) -> str:
        return self.decision_id.split("@")[0]


#: the first completes before the crash; the second is the one the crash interrupts
FIRST = Intent("BTCUSDT@1764892800000", Side.BUY, 0.004, 51_000.0)
SECOND = Intent("ETHUSDT@1764896400000", Side.SELL, 0.05, 2_900.0)


def open_venue(base_url: str) -> CcxtVenue:
    config = CcxtClientConfig("testnet", "key", "secret", base_url, 2_000, enable_rate_limit=False)
    venue = build_venue(
        config,
        requests_per_minute=1_000_000,
        symbols=SYMBOLS,
        budget=RequestBudget(1_000_000, time.monotonic, time.sleep),
    )
    venue.client.load_markets()  # type: ignore[attr-defined]
    return venue


class TradingProcess:
    """The parts of one process; :meth:`restore` reads back what an earlier one committed."""

    def __init__(self, db: Engine, remote: CcxtVenue) -> None:
        self.clock = WallClock()
        self.store = SqlExecutionStore(db)
        self.portfolio = Portfolio(RUN_ID)
        for symbol, price in MARKS.items():
            self.portfolio.mark(symbol, price)
        self.book = VenueBook(remote, self.portfolio, BINANCE_USDM, self.clock)
        self.orders = OrderManager(
            self.book,
            BINANCE_USDM,
            self.clock,
            InProcessBus(self.clock, RUN_ID),
            RUN_ID,
            mark=self.portfolio.mark_price,
        )
        self.orders.use_intent_ids(IntentIds(LINEAGE_KEY))
        self.commits = 0

    def start_fresh(self, balance: float) -> None:
        self.portfolio.deposit(balance, self.clock.now(), "venue balance")
        self.commit()

    def restore(self) -> int:
        """The journal of the last commit; returns that commit's time."""
        stored = self.store.load(RUN_ID)
        assert stored is not None, "nothing was committed"
        state = json.loads(stored.state_json)
        self.portfolio.ledger.load(stored.ledger)
        self.portfolio.restore(state["portfolio"])
        self.orders.restore(state["orders"], stored.orders)
        return stored.last_time

    def commit(self) -> None:
        """One transaction, as ``Checkpointer.commit`` writes it."""
        orders, fills = self.orders.drain()
        trades, self.portfolio.pending_trades = self.portfolio.pending_trades, []
        state = {"portfolio": self.portfolio.snapshot(), "orders": self.orders.snapshot()}
        self.commits += 1
        self.store.commit(
            CheckpointBatch(
                run_id=RUN_ID,
                cursor=self.commits,
                last_time=self.clock.now(),
                finished=False,
                state_json=json.dumps(state, sort_keys=True),
                orders=orders,
                fills=fills,
                trades=trades,
                ledger=self.portfolio.ledger.drain_pending(),
            )
        )

    def write_ahead(self, before: Callable[[Order], None], after: Callable[[Order], None]) -> None:
        """Commit each new order before its request, with a hook on either side of the commit."""

        def commit_intent(order: Order) -> None:
            before(order)
            self.commit()
            after(order)

        self.orders.write_ahead = commit_intent

    def decide(self, intent: Intent) -> Order:
        """The decision path's last step (decision/orders.py): the entry with its bracket."""
        return self.orders.submit(
            intent.symbol,
            intent.side,
            intent.quantity,
            OrderType.MARKET,
            bracket=Bracket(take_profit=intent.take_profit),
            tag="crash-test: entry",
            decision=DecisionRef(intent.decision_id, "CrashTest", "fixed", "fixed"),
        )
