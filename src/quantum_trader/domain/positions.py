"""Positions (one-way mode) and closed trades."""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.domain import checks
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Side
from quantum_trader.domain.records import record_builder

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Position:
    """A net position in one symbol. ``quantity`` is signed: > 0 long, < 0 short, 0 flat."""

    symbol: str
    quantity: float = 0.0
    entry_price: float = 0.0
    leverage: float = 1.0
    opened_at: int | None = None

    def __post_init__(self) -> None:
        checks.non_empty("Position", "symbol", self.symbol)
        checks.finite("Position", "quantity", self.quantity)
        checks.non_negative("Position", "entry_price", self.entry_price)
        checks.positive("Position", "leverage", self.leverage)
        if self.quantity != 0:
            checks.positive("Position", "entry_price", self.entry_price)

    @property
    def side(self) -> Side | None:
        if self.quantity > 0:
            return Side.BUY
        if self.quantity < 0:
            return Side.SELL
        return None

    def notional(self, mark_price: float) -> float:
        return abs(self.quantity) * mark_price

    def unrealized_pnl(self, mark_price: float) -> float:
        return self.quantity * (mark_price - self.entry_price)


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip: a position opened and closed (fully), with what it earned and cost."""

    trade_id: str
    symbol: str
    side: Side
    quantity: float
    entry_price: float
    exit_price: float
    entry_time: int
    exit_time: int
    pnl: float
    fees: float = 0.0
    funding: float = 0.0
    strategy: str = ""
    exit_reason: str = ""
    #: the decision that opened the position (None: not the decision path's)
    decision: DecisionRef | None = None

    def __post_init__(self) -> None:
        try:
            if (
                0.0 < self.quantity < _INF
                and 0.0 < self.entry_price < _INF
                and 0.0 < self.exit_price < _INF
                and -_INF < self.pnl < _INF
                and self.exit_time >= self.entry_time
            ):
                return  # the common case in one test; the checks below name a bad field
        except TypeError:
            pass
        checks.positive("Trade", "quantity", self.quantity)
        checks.positive("Trade", "entry_price", self.entry_price)
        checks.positive("Trade", "exit_price", self.exit_price)
        checks.finite("Trade", "pnl", self.pnl)
        if self.exit_time < self.entry_time:
            raise DomainValidationError(
                "Trade", "exit_time", self.exit_time, f"is before entry_time {self.entry_time}"
            )

    @property
    def net_pnl(self) -> float:
        """PnL after fees and funding (``pnl`` is the price PnL)."""
        return self.pnl - self.fees - self.funding


#: Positional constructor for the replay's hot path (see ``domain.records``).
build_trade = record_builder(Trade)
