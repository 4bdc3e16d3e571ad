"""One paced paper run, twice: on the simulated exchange, and on the exchange double over HTTP
(issue 23: "the same 30-day paced paper run against the simulated exchange and against the
double, with the double's fills mirroring the simulator, gives the same orders").

Both runs are one :class:`TradingSession` with the same candles, the same clock type, the same
trader and the same order manager with the venue phase's intent ids; only the session's venue
differs:

- **simulated**: the default venue, the :class:`SimulatedExchange`;
- **double**: a :class:`VenueBook` over :class:`CcxtVenue` (real ccxt, ``binanceusdm``) talking
  HTTP to the exchange double in mirror mode (``tests/exchange_double/mirror.py``): the double
  fills each order exactly as a simulator fed the same candles does.

"Paced" as the live phase is: the candles come one by one from a live source
(``TradingSession(source=…)``, never the replay's bulk fast-forward), the engine clock advances
to each close, and the venue book polls the venue once per close time. Before the candles of a
close time reach the engine, the double's mirror is given them (the venue has the candle before
the engine does), so the poll at that candle hears its fills.

Funding: off by default (``CONFIG``); with ``FUNDED`` both simulators settle it (the default
rate every 8 hours), the session's on its book, the mirror's on the double's wallet and income
history (``/fapi/v1/income``), which the venue book reads at each poll and posts to the book.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Fill, Order, OrderType, Side
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.engine.session import SessionConfig, SessionVenue, TradingSession
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.client_ids import IntentIds
from quantum_trader.execution.instruments import BINANCE_USDM, SymbolSpec
from quantum_trader.execution.order_manager import Bracket
from quantum_trader.execution.simulated.funding import FundingConfig
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.portfolio.portfolio import Portfolio
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.mirror import FillPerturbation, SimulatorMirror
from tests.live.crash_harness import open_venue

SYMBOLS = ("BTCUSDT", "ETHUSDT")
START, DAYS = "2023-03-01", 30  # a month with trends both ways: crossings, exits, targets
SIZES = {"BTCUSDT": 0.005, "ETHUSDT": 0.05}  # multiples of the double's step, above min notional
CONFIG = SessionConfig("1h", run_id="sim-vs-double", funding=FundingConfig(enabled=False))
FUNDED = SessionConfig("1h", run_id="sim-vs-double", funding=FundingConfig(enabled=True))
LINEAGE_KEY = "testnet|key|sim-vs-double"
HOUR = 3_600_000


def load_frames(data_dir: Path) -> dict[str, pd.DataFrame]:
    """``DAYS`` days of real 1h candles of each symbol from ``START`` (the shared data)."""
    start = int(pd.Timestamp(START, tz="UTC").value // 1_000_000)
    store = CandleStore(data_dir)
    return {s: store.load(s, "1h", start, start + DAYS * 24 * HOUR) for s in SYMBOLS}


# ---------------------------------------------------------------------- the trader
class CrossTrader:
    """A fixed-size moving-average crossing trader that uses every order kind the double
    takes: market entries with a take-profit bracket (a reduce-only limit), limit entries
    that rest and are cancelled when unfilled after ``patience`` candles, and reduce-only
    market exits on the opposite crossing (which also end the open take-profit).

    ``one_entry_at_a_time``: a crossing first cancels the limit entry still resting from the
    crossing before; without it the two entries may both work, and a later one can fill
    before the earlier one (two fills of one symbol between two polls, in the reverse order of
    their orders)."""

    name = "sim-vs-double-cross"

    def __init__(
        self, fast: int = 6, slow: int = 20, patience: int = 4, one_entry_at_a_time: bool = True
    ) -> None:
        self.config = (fast, slow, patience, one_entry_at_a_time, tuple(sorted(SIZES.items())))
        self.fast, self.slow, self.patience = fast, slow, patience
        self.one_entry_at_a_time = one_entry_at_a_time
        self._closes: dict[str, list[float]] = {}
        self._above: dict[str, bool] = {}
        self._crossings: dict[str, int] = {}
        self._resting: dict[str, tuple[str, int]] = {}  # symbol: (limit entry id, candles left)
        self._ctx: TradingContext | None = None

    def bind(self, context: TradingContext) -> None:
        self._ctx = context

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        ctx = self._ctx
        assert ctx is not None
        self._expire_resting(symbol)
        closes = self._closes.setdefault(symbol, [])
        closes.append(c)
        if len(closes) < self.slow:
            return
        del closes[: -self.slow]
        above = sum(closes[-self.fast :]) / self.fast > sum(closes) / self.slow
        was = self._above.get(symbol)
        self._above[symbol] = above
        if was is None or was == above:
            return
        n = self._crossings[symbol] = self._crossings.get(symbol, 0) + 1
        if self.one_entry_at_a_time:
            self._expire_resting(symbol, now=True)
        decision = DecisionRef(f"{symbol}@{close_time}", "CrossTrader", "fixed", "fixed")
        held = ctx.portfolio.quantity(symbol)
        side = Side.BUY if above else Side.SELL
        if held != 0 and (held > 0) != above:  # against the position: close it first
            ctx.orders.submit(
                symbol, side, abs(held), reduce_only=True, tag="cross: exit", decision=decision
            )
        if held != 0 and (held > 0) == above:
            return
        spec, size = BINANCE_USDM[symbol], SIZES[symbol]
        sign = 1 if above else -1
        target = spec.round_price(c * (1 + sign * 0.012), up=not above)
        bracket = Bracket(take_profit=target)
        if n % 3 == 0:  # every third entry a limit order just inside the close
            price = spec.round_price(c * (1 - sign * 0.002), up=not above)
            order = ctx.orders.submit(
                symbol,
                side,
                size,
                OrderType.LIMIT,
                price=price,
                bracket=bracket,
                tag="cross: limit entry",
                decision=decision,
            )
            if not order.status.is_terminal:
                self._resting[symbol] = (order.client_order_id, self.patience)
        else:
            ctx.orders.submit(
                symbol, side, size, bracket=bracket, tag="cross: entry", decision=decision
            )

    def _expire_resting(self, symbol: str, now: bool = False) -> None:
        ctx = self._ctx
        assert ctx is not None
        resting = self._resting.pop(symbol, None)
        if resting is None:
            return
        cid, left = resting
        order = ctx.orders.get(cid)
        if order is None or order.status.is_terminal or order.filled_quantity > 0:
            return
        if left > 1 and not now:
            self._resting[symbol] = (cid, left - 1)
        else:
            ctx.orders.cancel(cid)

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        return None


# ---------------------------------------------------------------------- the runs
@dataclass(frozen=True, slots=True)
class PaperRun:
    """What a run did: its orders (as the order manager holds them at the end, in submission
    order), its fills (in the order heard), the final equity, and the seconds it took."""

    venue: str
    orders: list[Order]
    fills: list[Fill]
    final_equity: float
    candles: int
    elapsed_s: float
    requests: dict[str, int] = field(default_factory=dict)  # the double's, by endpoint
    polls: int = 0  # the venue book's polls of the venue (0: the simulator)
    funding_paid: float = 0.0  # by the book's positions (< 0: received)
    funding_payments: int = 0  # the venue's payments the venue book posted (0: the simulator)


def paced(frames: Mapping[str, pd.DataFrame], before: Callable[[Bar], None]) -> Iterator[Bar]:
    """The candles one by one, as a live source gives them; ``before`` sees every candle of a
    close time before the first of them is handed on (the venue's side of the candle)."""
    bars = ReplayFeed(frames, CONFIG.timeframe).bars(0)
    for _close, group in itertools.groupby(bars, key=itemgetter(2)):
        batch = list(group)
        for bar in batch:
            before(bar)
        yield from batch


def _session(
    frames: Mapping[str, pd.DataFrame],
    clock: SimulatedClock,
    source: Iterable[Bar],
    venue: Callable[[Portfolio], SessionVenue] | None,
    trader: CrossTrader,
    config: SessionConfig = CONFIG,
) -> TradingSession:
    specs: dict[str, SymbolSpec] = {s: BINANCE_USDM[s] for s in frames}
    session = TradingSession(
        config,
        frames,
        trader,
        specs=specs,
        clock=clock,
        source=lambda _last: source,
        venue=venue,
    )
    session.orders.use_intent_ids(IntentIds(LINEAGE_KEY))  # the venue phase's ids
    return session


def _first_open(frames: Mapping[str, pd.DataFrame]) -> int:
    return min(int(f["open_time"].iloc[0]) for f in frames.values())


def _result(
    venue: str, session: TradingSession, started: float, double: ExchangeDouble | None = None
) -> PaperRun:
    result = session.run()
    return PaperRun(
        venue,
        list(session.orders.orders.values()),
        list(result.fills),
        session.portfolio.equity,
        result.candles,
        time.perf_counter() - started,
        dict(double.requests) if double is not None else {},
        session.exchange.polls if isinstance(session.exchange, VenueBook) else 0,
        session.portfolio.funding_paid,
        session.exchange.funding_payments if isinstance(session.exchange, VenueBook) else 0,
    )


def run_simulated(
    frames: Mapping[str, pd.DataFrame], trader: CrossTrader, config: SessionConfig = CONFIG
) -> PaperRun:
    started = time.perf_counter()
    clock = SimulatedClock(_first_open(frames))
    session = _session(frames, clock, paced(frames, lambda _bar: None), None, trader, config)
    return _result("simulated exchange", session, started)


def run_on_double(
    frames: Mapping[str, pd.DataFrame],
    trader: CrossTrader,
    perturb: FillPerturbation | None = None,
    config: SessionConfig = CONFIG,
) -> PaperRun:
    started = time.perf_counter()
    first_open = _first_open(frames)
    specs = {s: BINANCE_USDM[s] for s in frames}
    clock = SimulatedClock(first_open)
    with ExchangeDouble() as double:
        mirror = SimulatorMirror(
            double.book,
            specs,
            initial_balance=config.initial_balance,
            first_open=first_open,
            exchange=config.exchange,
            funding=config.funding,
            perturb=perturb,
        )

        def venue(portfolio: Portfolio) -> SessionVenue:
            return VenueBook(open_venue(double.base_url), portfolio, specs, clock)

        feed = paced(frames, lambda bar: mirror.on_bar(*bar))
        session = _session(frames, clock, feed, venue, trader, config)
        return _result("exchange double", session, started, double)


# ---------------------------------------------------------------------- the comparison
def order_row(o: Order) -> tuple[Any, ...]:
    return (
        o.client_order_id,
        o.symbol,
        o.side.value,
        o.order_type.value,
        o.quantity,
        o.price,
        o.stop_price,
        o.reduce_only,
        o.created_at,
        o.status.value,
        o.filled_quantity,
        o.average_price,
    )


def fill_row(f: Fill) -> tuple[Any, ...]:
    """A fill without its id: the simulator names fills ``<order>-F<n>``, a venue
    ``<order>#<trade id>``."""
    return (f.client_order_id, f.symbol, f.side.value, f.quantity, f.price, f.fee, f.time)


def in_time_order(rows: Iterable[tuple[Any, ...]], time_at: int) -> list[tuple[Any, ...]]:
    """Rows by time, stable: within one time each symbol's rows keep the order they came in.
    (Across symbols within one close time the two venues differ by design: the simulator
    matches symbol after symbol as each candle is processed, the venue book hears the fills of
    every symbol at the one poll of that close time; the intent ids do not depend on it.)"""
    return sorted(rows, key=lambda r: (r[time_at], r[1]))


def differences(a: PaperRun, b: PaperRun, limit: int = 10) -> list[str]:
    """What differs between two runs, one line each (at most ``limit`` per kind); [] when they
    gave the same orders, the same fills and the same final equity (to 1e-9)."""
    out: list[str] = []
    for what, rows_a, rows_b in (
        (
            "order",
            in_time_order(map(order_row, a.orders), 8),
            in_time_order(map(order_row, b.orders), 8),
        ),
        (
            "fill",
            in_time_order(map(fill_row, a.fills), 6),
            in_time_order(map(fill_row, b.fills), 6),
        ),
    ):
        if len(rows_a) != len(rows_b):
            out.append(f"{what}s: {len(rows_a)} on the {a.venue}, {len(rows_b)} on the {b.venue}")
        found = 0
        for i, (x, y) in enumerate(itertools.zip_longest(rows_a, rows_b)):
            if x != y and found < limit:
                found += 1
                out.append(f"{what} {i}: {a.venue} {x} != {b.venue} {y}")
    if abs(a.final_equity - b.final_equity) > 1e-9:
        out.append(
            f"final equity: {a.final_equity!r} on the {a.venue}, {b.final_equity!r} on the "
            f"{b.venue}"
        )
    return out


def count_by_kind(run: PaperRun) -> dict[str, int]:
    """How many orders of each kind and end a run had (to show the run exercised them)."""
    kinds: dict[str, int] = {}
    for o in run.orders:
        kind = f"{o.order_type.value}{' reduce-only' if o.reduce_only else ''} {o.status.value}"
        kinds[kind] = kinds.get(kind, 0) + 1
    kinds["fills"] = len(run.fills)
    kinds["filled as maker"] = sum(f.is_maker for f in run.fills)
    return dict(sorted(kinds.items()))
