"""The venue port: what the order manager needs from an exchange, simulated or live.

Venues report order updates and fills asynchronously to an :class:`ExecutionListener` (the
simulated exchange while it processes candles; the ccxt venue when it polls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from quantum_trader.domain.errors import QuantumTraderError
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.domain.positions import Position


@dataclass(frozen=True, slots=True)
class VenueFunding:
    """A funding payment a venue settled on the account (Binance's ``FUNDING_FEE`` income):
    ``income`` > 0 the account received it, < 0 it paid; ``income_id`` the venue's id of it."""

    income_id: str
    symbol: str
    income: float
    time: int


@dataclass(frozen=True, slots=True)
class VenueCommission:
    """The account's commission rates on one symbol, fractions of the fill notional, as the
    venue charges them (Binance's ``/fapi/v1/commissionRate``): its fee tier, not the
    configured fees. ``maker`` < 0 is a rebate."""

    symbol: str
    maker: float
    taker: float


class CommissionUnavailable(QuantumTraderError):
    """The venue gave no commission rate: no answer, or it refused the request (a key without
    the permission, a symbol it does not list). The caller keeps the configured fees."""


@runtime_checkable
class CommissionRates(Protocol):
    """A venue that tells the account's fee tier (``BinanceUsdmVenue``, in
    ``adapters/ccxt_venue_client.py``)."""

    def commission_rate(self, symbol: str) -> VenueCommission:
        """The account's rates on ``symbol``; raises :class:`CommissionUnavailable` when the
        venue did not give them, ``DataError`` when its answer is not a rate (naming the
        symbol and the field)."""
        ...


class ExecutionListener(Protocol):
    def on_order_update(self, order: Order) -> None: ...

    def on_fill(self, fill: Fill, order: Order) -> None: ...


class Venue(Protocol):
    """An exchange account for USDT-M perpetual futures (one-way mode)."""

    def set_listener(self, listener: ExecutionListener) -> None: ...

    def set_leverage(self, symbol: str, leverage: float) -> None: ...

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        """Send a new order; returns it as the venue holds it (NEW, FILLED, or REJECTED).

        May raise ``TimeoutError`` when the venue did not answer: the order may or may not exist.
        """
        ...

    def cancel(self, client_order_id: str) -> Order: ...

    def fetch_order(self, client_order_id: str) -> Order | None:
        """The venue's view of an order, or None when the venue never received it."""
        ...

    def positions(self) -> dict[str, Position]: ...

    def balance(self) -> float: ...
