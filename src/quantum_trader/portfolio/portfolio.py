"""Positions (one-way mode, isolated margin), wallet balance, PnL, fees, funding, equity.

The portfolio is the account book. The simulated exchange posts fills, funding and liquidations
to it (a live venue's fills have no path to it yet: issue 23). Every balance change goes through
the :class:`Ledger`. Positions are mutable ``PositionState`` records internally (the replay hot
path updates marks without allocating); readers get immutable domain ``Position``s. The risk
engine reads the account through its own port, ``risk/portfolio_view.py``, which
``decision/views.py`` implements over this book.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Container, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.decisions import DecisionRef, ref_or_none
from quantum_trader.domain.margin import liquidation_price
from quantum_trader.domain.orders import Fill, Side
from quantum_trader.domain.positions import Position, Trade, build_trade
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.portfolio.ledger import Ledger, LedgerKind
from quantum_trader.portfolio.seen_fills import SeenFills

TradeListener = Callable[[Trade], None]
_SHORT_STRETCH = 64  # fast-forward: up to this many candles, a Python loop is cheaper


@dataclass(slots=True)
class PositionState:
    """A symbol's position and the accumulators of its open round trip."""

    symbol: str
    qty: float = 0.0
    entry: float = 0.0
    leverage: float = 1.0
    margin: float = 0.0
    mmr: float = 0.005
    mark: float = 0.0
    liq_price: float = 0.0
    opened_at: int = 0
    max_qty: float = 0.0
    exit_qty: float = 0.0
    exit_value: float = 0.0
    realized: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    strategy: str = ""
    long: bool = True
    decision: DecisionRef | None = None

    def position(self) -> Position:
        if self.qty == 0:
            return Position(self.symbol, 0.0, 0.0, self.leverage, None)
        return Position(self.symbol, self.qty, self.entry, self.leverage, self.opened_at)

    def reset_trade(self) -> None:
        self.max_qty = self.exit_qty = self.exit_value = 0.0
        self.realized = self.fees = self.funding = 0.0


class Portfolio:
    """The account: wallet, isolated positions, PnL totals, equity curve and ledger."""

    def __init__(self, run_id: str = "run", ledger: Ledger | None = None) -> None:
        self.run_id = run_id
        self.ledger = ledger if ledger is not None else Ledger()
        self._pos: dict[str, PositionState] = {}
        self._unrealized = 0.0
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        self.liquidations = 0
        self.trade_count = 0
        self._peak = 0.0
        self._day = -1
        self._next_day = 0  # start of the UTC day after the current one (ms)
        self._day_start_equity = 0.0
        self.equity_times: list[int] = []
        self.equity_values: list[float] = []
        self.exposed_points = 0
        self._open_count = 0
        self.trade_listeners: list[TradeListener] = []
        self.pending_trades: list[Trade] = []
        #: ids of the fills posted so far: a venue reports a fill again after a reconnect or a
        #: restart, or on both its stream and a poll; posted twice it would double the position.
        #: Bounded by reconciliation (``forget_fills_before``, ``seen_fills.py``)
        self._fill_ids = SeenFills()
        self.duplicate_fills = 0

    # ------------------------------------------------------------------ read-only view
    @property
    def wallet_balance(self) -> float:
        return self.ledger.balance

    @property
    def unrealized_pnl(self) -> float:
        return self._unrealized

    @property
    def equity(self) -> float:
        return self.ledger.balance + self._unrealized

    @property
    def peak_equity(self) -> float:
        return max(self._peak, self.equity)

    @property
    def daily_pnl(self) -> float:
        """Equity change since the last equity record of the previous UTC day."""
        return self.equity - self._day_start_equity

    @property
    def margin_used(self) -> float:
        return sum([p.margin for p in self._pos.values()])

    @property
    def available_balance(self) -> float:
        # ``sum`` of the margins, as a loop (same additions in the same order): the exchange
        # reads this twice per order, where the list and the call cost more than the sum
        used = 0.0
        for p in self._pos.values():
            used += p.margin
        return self.ledger.balance - used

    def positions(self) -> dict[str, Position]:
        return {s: p.position() for s, p in self._pos.items() if p.qty != 0}

    def position(self, symbol: str) -> Position:
        state = self._pos.get(symbol)
        return state.position() if state is not None else Position(symbol)

    def state(self, symbol: str) -> PositionState | None:
        return self._pos.get(symbol)

    def quantity(self, symbol: str) -> float:
        state = self._pos.get(symbol)
        return 0.0 if state is None else state.qty

    def mark_prices(self) -> dict[str, float]:
        return {s: p.mark for s, p in self._pos.items() if p.mark > 0}

    def mark_price(self, symbol: str) -> float:
        """``symbol``'s last mark (0.0 before it has one): the order manager's reference price."""
        state = self._pos.get(symbol)
        return 0.0 if state is None else state.mark

    # ------------------------------------------------------------------ hot path
    def mark(self, symbol: str, price: float) -> None:
        """Set the mark price (the candle close); keeps total unrealized PnL incremental."""
        state = self._pos.get(symbol)
        if state is None:
            state = self._pos[symbol] = PositionState(symbol)
        if state.qty != 0:
            self._unrealized += state.qty * (price - state.mark)
        state.mark = price

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
        """Engine hook after the venue processed the candle: mark at the close, record equity.

        ``mark`` and ``record_equity`` inlined: this runs once per replayed candle.
        """
        state = self._pos.get(symbol)
        if state is None:
            state = self._pos[symbol] = PositionState(symbol)
        if state.qty != 0:
            self._unrealized += state.qty * (c - state.mark)
        state.mark = c
        equity = self.ledger.balance + self._unrealized
        if close_time >= self._next_day:
            self._next_day = (close_time // MS_PER_DAY + 1) * MS_PER_DAY
            self._day = close_time // MS_PER_DAY
            self._day_start_equity = self.equity_values[-1] if self.equity_values else equity
        if equity > self._peak:
            self._peak = equity
        times = self.equity_times
        if times and times[-1] == close_time:
            self.equity_values[-1] = equity
            return
        times.append(close_time)
        self.equity_values.append(equity)
        if self._open_count:
            self.exposed_points += 1

    # ------------------------------------------------------------------ fast-forward
    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        """Every candle can be applied in bulk, except the first one of a run and one whose
        equity point would merge with the last one (another symbol closing at the same time)."""
        times = self.equity_times
        if not times or times[-1] >= bars.close_times[start]:
            return start
        return stop

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        """:meth:`on_bar` for candles ``[start, stop)`` at once, with the same float operations
        in the same order (the unrealized PnL is a running sum: ``np.add.accumulate`` adds
        sequentially), so the equity points are bit-identical to the per-candle ones.

        Wallet changes the venue posted for these candles (funding, settled by the exchange's
        own ``skip_bars`` just before) are the ledger entries dated after the last equity
        point; each one counts from the first candle closing at or after its time, as it
        would have one candle at a time."""
        state = self._pos.get(symbol)
        if state is None:
            state = self._pos[symbol] = PositionState(symbol)
        n = stop - start
        balance, changes = self.ledger.changes_after(self.equity_times[-1])
        qty = state.qty
        times_l = bars.close_times[start:stop]
        if n <= _SHORT_STRETCH:
            # a Python loop beats numpy's call overhead on a short stretch; same operations
            closes_l = bars.close[start:stop].tolist()
            last_close = closes_l[-1]
            unrealized = self._unrealized
            mark = state.mark
            values: list[float] = []
            if changes:
                pending = iter(changes)
                change = next(pending, None)
                for t, c in zip(times_l, closes_l, strict=True):
                    while change is not None and change[0] <= t:
                        balance = change[1]
                        change = next(pending, None)
                    if qty != 0:
                        unrealized += qty * (c - mark)
                        mark = c
                    values.append(balance + unrealized)
            elif qty != 0:
                for c in closes_l:
                    unrealized += qty * (c - mark)
                    mark = c
                    values.append(balance + unrealized)
            else:
                values = [balance + unrealized] * n
            self._unrealized = unrealized
            top = max(values)
        else:
            closes = bars.close[start:stop]
            balances: float | npt.NDArray[np.float64] = balance
            if changes:
                steps_b = np.full(n, balance)
                for t, after in changes:
                    steps_b[bisect_left(times_l, t) :] = after
                balances = steps_b
            if qty != 0:
                steps = np.empty(n + 1)
                steps[0] = self._unrealized
                steps[1] = qty * (float(closes[0]) - state.mark)
                steps[2:] = qty * (closes[1:] - closes[:-1])
                running = np.add.accumulate(steps)[1:]
                self._unrealized = float(running[-1])
                equity = balances + running
            else:
                equity = balances + np.full(n, self._unrealized)
            values = equity.tolist()
            top = float(equity.max())
            last_close = bars.close.item(stop - 1)
        state.mark = last_close
        last = times_l[-1]
        if last >= self._next_day:
            day = last // MS_PER_DAY
            j = bisect_left(times_l, day * MS_PER_DAY)
            self._next_day = (day + 1) * MS_PER_DAY
            self._day = day
            self._day_start_equity = values[j - 1] if j > 0 else self.equity_values[-1]
        if top > self._peak:
            self._peak = top
        self.equity_times.extend(times_l)
        self.equity_values.extend(values)
        if self._open_count:
            self.exposed_points += n

    # ------------------------------------------------------------------ account changes
    def deposit(self, amount: float, time: int, ref: str = "deposit") -> None:
        self.ledger.append(time, LedgerKind.DEPOSIT, "", amount, ref)
        if self._peak == 0.0:
            self._peak = self.equity
            self._day_start_equity = self.equity

    def rebase(self) -> None:
        """The account starts again from its equity now (a venue took it over,
        ``execution/handover.py``): its peak and the day's starting equity become the equity,
        so the balance the venue brought is not read as a gain or a loss."""
        self._peak = self._day_start_equity = self.equity

    def set_leverage(self, symbol: str, leverage: float, mmr: float) -> None:
        state = self._pos.get(symbol)
        if state is None:
            state = self._pos[symbol] = PositionState(symbol)
        state.leverage = leverage
        state.mmr = mmr

    def apply_fill(
        self,
        symbol: str,
        side: Side,
        quantity: float,
        price: float,
        fee: float,
        time: int,
        ref: str,
        strategy: str = "",
        exit_reason: str = "",
        decision: DecisionRef | None = None,
        *,
        fill_id: str = "",
        order_id: str = "",
    ) -> Trade | None:
        """Post a fill: moves the position, realises PnL on the reducing part, charges the fee.

        Returns the round trip closed by this fill, if any (a flip closes one and opens another).
        ``strategy`` and ``decision`` describe the order: a round trip it opens carries them.
        A ``fill_id`` already posted changes nothing (counted in ``duplicate_fills``): the
        account counts each of a venue's fills once, however often it is reported. The id is
        kept with ``time`` and ``order_id`` (default ``ref``), by which it may be forgotten.
        """
        if fill_id and not self._fill_ids.add(fill_id, time, order_id or ref):
            self.duplicate_fills += 1
            return None
        state = self._pos.get(symbol)
        if state is None:
            state = self._pos[symbol] = PositionState(symbol)
            state.mark = price
        signed = quantity if side is Side.BUY else -quantity
        closed: Trade | None = None
        qty = state.qty
        if qty == 0 or (qty > 0) == (signed > 0):
            self._increase(state, signed, price, fee, time, strategy, decision)
        else:
            size = abs(qty)
            close_qty = quantity if quantity < size else size
            open_qty = quantity - close_qty
            close_fee = fee * close_qty / quantity
            entry = state.entry
            pnl = close_qty * (price - entry) * (1.0 if qty > 0 else -1.0)
            remaining = size - close_qty
            fraction = close_qty / size
            # unrealized on the reduced part leaves the incremental total
            self._unrealized -= (qty * fraction) * (state.mark - entry)
            state.margin -= state.margin * fraction
            state.exit_qty += close_qty
            state.exit_value += close_qty * price
            state.realized += pnl
            state.fees += close_fee
            self.realized_pnl += pnl
            if pnl != 0.0:
                self.ledger.append(time, LedgerKind.REALIZED_PNL, symbol, pnl, ref)
            if remaining <= 1e-12:
                state.qty = 0.0
                state.margin = 0.0
                state.liq_price = 0.0
                closed = self._close_trade(state, time, exit_reason)
            else:
                state.qty = remaining if qty > 0 else -remaining
                state.liq_price = liquidation_price(state.qty, entry, state.margin, state.mmr)
            if open_qty > 1e-12:
                opening = open_qty if signed > 0 else -open_qty
                self._increase(state, opening, price, fee - close_fee, time, strategy, decision)
        if fee != 0.0:
            self.fees_paid += fee
            self.ledger.append(time, LedgerKind.FEE, symbol, -fee, ref)
        return closed

    def post_fill(
        self, fill: Fill, ref: str, strategy: str, exit_reason: str, decision: DecisionRef | None
    ) -> Trade | None:
        """:meth:`apply_fill` of a venue's reported fill (once by its id)."""
        return self.apply_fill(
            fill.symbol,
            fill.side,
            fill.quantity,
            fill.price,
            fill.fee,
            fill.time,
            ref,
            strategy,
            exit_reason,
            decision,
            fill_id=fill.fill_id,
            order_id=fill.client_order_id,
        )

    def forget_fills_before(self, horizon: int, keep_orders: Container[str]) -> int:
        """Forget the ids of fills dated before ``horizon`` but those of ``keep_orders``
        (``SeenFills.forget_before``); the caller says why none can be reported again."""
        return self._fill_ids.forget_before(horizon, keep_orders)

    def _increase(
        self,
        state: PositionState,
        signed: float,
        price: float,
        fee: float,
        time: int,
        strategy: str,
        decision: DecisionRef | None,
    ) -> None:
        size = abs(signed)
        if state.qty == 0:
            state.reset_trade()
            state.opened_at = time
            state.strategy = strategy
            state.decision = decision
            state.entry = price
            state.qty = signed
            state.long = signed > 0
            state.mark = price
            self._open_count += 1
        else:
            held = abs(state.qty)
            self._unrealized += signed * (state.mark - price)
            state.entry = (held * state.entry + size * price) / (held + size)
            state.qty += signed
        state.margin += size * price / state.leverage
        held = abs(state.qty)
        if held > state.max_qty:
            state.max_qty = held
        state.fees += fee
        state.liq_price = liquidation_price(state.qty, state.entry, state.margin, state.mmr)

    def apply_funding(self, symbol: str, rate: float, mark: float, time: int) -> float:
        """Settle funding on ``symbol``'s position: returns what it paid (negative: received)."""
        state = self._pos.get(symbol)
        if state is None or state.qty == 0:
            return 0.0
        payment = state.qty * mark * rate
        self.post_funding(symbol, payment, time, f"funding@{time}")
        return payment

    def post_funding(self, symbol: str, payment: float, time: int, ref: str) -> None:
        """Book a funding payment as settled (``payment`` > 0: the position paid; < 0: it
        received): the simulated exchange's, or one a venue reports, whose position may have
        closed since."""
        state = self._pos.get(symbol)
        if state is not None:
            state.funding += payment
        self.funding_paid += payment
        self.ledger.append(time, LedgerKind.FUNDING, symbol, -payment, ref)

    def liquidate(self, symbol: str, price: float, time: int, ref: str) -> Trade:
        """Close the isolated position at ``price``; the rest of its margin goes to the
        insurance fund as a clearance fee, so the account loses exactly the position margin."""
        state = self._pos[symbol]
        qty = state.qty
        margin = state.margin
        pnl = max(qty * (price - state.entry), -margin)
        clearance = margin + pnl
        self._unrealized -= qty * (state.mark - state.entry)
        state.exit_qty += abs(qty)
        state.exit_value += abs(qty) * price
        state.realized += pnl
        state.fees += clearance
        state.qty = 0.0
        state.margin = 0.0
        state.liq_price = 0.0
        self.realized_pnl += pnl
        self.fees_paid += clearance
        self.liquidations += 1
        self.ledger.append(time, LedgerKind.REALIZED_PNL, symbol, pnl, ref)
        if clearance > 0.0:
            self.ledger.append(time, LedgerKind.LIQUIDATION_FEE, symbol, -clearance, ref)
        return self._close_trade(state, time, "liquidation")

    def _close_trade(self, state: PositionState, time: int, exit_reason: str) -> Trade:
        self.trade_count += 1
        self._open_count -= 1
        entry_qty = state.max_qty
        trade = build_trade(  # positional: one per round trip of a replay
            f"{self.run_id}-T{self.trade_count}",
            state.symbol,
            Side.BUY if state.long else Side.SELL,
            entry_qty,
            state.entry,
            state.exit_value / state.exit_qty,
            state.opened_at,
            time,
            state.realized,
            state.fees,
            state.funding,
            state.strategy,
            exit_reason,
            state.decision,
        )
        # the accumulators start afresh when the next round trip opens (``_increase``)
        self.pending_trades.append(trade)
        for listener in self.trade_listeners:
            listener(trade)
        return trade

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        return {
            "positions": {s: asdict(p) for s, p in self._pos.items()},
            "realized_pnl": self.realized_pnl,
            "fees_paid": self.fees_paid,
            "funding_paid": self.funding_paid,
            "liquidations": self.liquidations,
            "trade_count": self.trade_count,
            "peak": self._peak,
            "day": self._day,
            "day_start_equity": self._day_start_equity,
            "exposed_points": self.exposed_points,
            # the running sum itself: recomputing it from the positions differs in the last
            # bits, and a resumed equity curve must be the uninterrupted one exactly
            "unrealized": self._unrealized,
            **self._fill_ids.snapshot(),
            "duplicate_fills": self.duplicate_fills,
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        self._pos = {
            s: PositionState(**{**p, "decision": ref_or_none(p.get("decision"))})
            for s, p in snap["positions"].items()
        }
        self._unrealized = (
            float(snap["unrealized"])
            if "unrealized" in snap
            else sum(p.qty * (p.mark - p.entry) for p in self._pos.values())
        )
        self.realized_pnl = float(snap["realized_pnl"])
        self.fees_paid = float(snap["fees_paid"])
        self.funding_paid = float(snap["funding_paid"])
        self.liquidations = int(snap["liquidations"])
        self.trade_count = int(snap["trade_count"])
        self._peak = float(snap["peak"])
        self._day = int(snap["day"])
        self._next_day = (self._day + 1) * MS_PER_DAY if self._day >= 0 else 0
        self._day_start_equity = float(snap["day_start_equity"])
        self.exposed_points = int(snap["exposed_points"])
        self._open_count = sum(1 for p in self._pos.values() if p.qty != 0)
        # checkpoints written before fills were recorded by id hold none, before they were
        # dated ids alone
        self._fill_ids.restore(snap)
        self.duplicate_fills = int(snap.get("duplicate_fills", 0))
