"""The frozen snapshot every rule reads: one order intent and the world it would enter.

The engine builds it once per evaluation from the portfolio view, the policy, the trading
state and the clock, so the rules are pure functions of (context, quantity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.state import TradingState
from quantum_trader.risk.warm_up import WarmUp

#: relative slack on limit comparisons, so a quantity trimmed exactly to a limit passes.
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class CheckContext:
    intent: OrderIntent
    now: int
    state: TradingState
    policy: TradingPolicy
    config: RiskConfig
    equity: float
    peak_equity: float
    daily_pnl: float
    #: signed quantity by symbol, open positions only
    positions: Mapping[str, float]
    #: mark prices by symbol (at least for every open position and the intent's symbol)
    marks: Mapping[str, float]
    last_candle_close: int | None
    cooldown_until: int | None
    #: why the trading state is what it is (for the rejection message)
    state_reason: str = ""
    #: the symbol's entry hold after a hole in its live feed, if one is on (risk/warm_up.py)
    warm_up: WarmUp | None = None

    @property
    def position(self) -> float:
        """Signed quantity held in the intent's symbol now."""
        return self.positions.get(self.intent.symbol, 0.0)

    @property
    def mark(self) -> float | None:
        return self.marks.get(self.intent.symbol)

    @property
    def valid_mark(self) -> float | None:
        """The mark price if it is a finite positive number, else None."""
        m = self.mark
        return m if m is not None and math.isfinite(m) and m > 0 else None

    @property
    def reference_price(self) -> float | None:
        """The price the order is expected to trade at: its limit/stop price, else the mark."""
        i = self.intent
        return i.price if i.price is not None else i.stop_price if i.stop_price else self.mark

    def after(self, quantity: float) -> float:
        """Signed position in the symbol if ``quantity`` fills."""
        return self.position + self.intent.side.sign * quantity

    def is_reducing(self, quantity: float) -> bool:
        """True if the order only shrinks an open position (no flip, no increase)."""
        p = self.position
        opposite = p * self.intent.side.sign < 0
        return opposite and quantity <= abs(p) * (1 + EPS)

    def opening_quantity(self, quantity: float) -> float:
        """The part of ``quantity`` that adds exposure (0 for a reducing order)."""
        p = self.position
        if p * self.intent.side.sign < 0:
            return max(quantity - abs(p), 0.0)
        return quantity

    def gross_exposure_others(self) -> float:
        """Notional of all positions except the intent's symbol, at mark prices."""
        total = 0.0
        for symbol, qty in self.positions.items():
            if symbol != self.intent.symbol:
                total += abs(qty) * self.marks[symbol]
        return total

    def start_of_day_equity(self) -> float:
        return self.equity - self.daily_pnl
