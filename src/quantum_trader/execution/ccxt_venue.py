"""Live venue: Binance USDT-M perpetual futures through a ccxt client (one-way mode).

The ccxt client is injected (any object with ccxt's unified methods), together with the
exception types that mean "no answer" (``timeout_errors``: the order may or may not exist) and
"no such order" (``not_found_errors``); the app's factory passes ccxt's ``NetworkError`` and
``OrderNotFound``. A submit that times out surfaces as ``TimeoutError``, and the order manager
then looks the order up by its client order id before anything is re-sent.

Fills are discovered by :meth:`CcxtVenue.poll`, which fetches every open order and reports the
increase of its filled quantity as a fill (price: the increment of ``average × filled``).
Nothing here runs unless :func:`check_live_gate` passed: ``--live``, API keys and an explicit
confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import ConfigError, DataError, OrderRejectedError
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType
from quantum_trader.domain.positions import Position
from quantum_trader.execution.venue import ExecutionListener

CONFIRMATION = "I-ACCEPT-REAL-ORDERS"

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_UNIFIED_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


class CcxtClient(Protocol):
    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def cancel_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def set_leverage(
        self, leverage: int, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class LiveGate:
    live: bool
    api_key: str
    api_secret: str
    confirmation: str


def check_live_gate(gate: LiveGate) -> None:
    """Refuse live trading unless every switch is set; the message says which one is missing."""
    missing = []
    if not gate.live:
        missing.append("--live")
    if not gate.api_key or not gate.api_secret:
        missing.append("API key and secret")
    if gate.confirmation != CONFIRMATION:
        missing.append(f"--confirm {CONFIRMATION}")
    if missing:
        raise ConfigError("live trading refused; missing: " + ", ".join(missing))


def _venue_symbol(symbol: str) -> str:
    """ccxt's unified name (:func:`~quantum_trader.data.symbols.to_ccxt_perp`); a symbol that
    has none is a rejected order here, as the venue's callers expect.

    >>> _venue_symbol("ETHUSDT")
    'ETH/USDT:USDT'
    """
    try:
        return to_ccxt_perp(symbol)
    except DataError as exc:
        raise OrderRejectedError(str(exc)) from None


class _NullListener:
    def on_order_update(self, order: Order) -> None:
        return None

    def on_fill(self, fill: Fill, order: Order) -> None:
        return None


class CcxtVenue:
    """The :class:`~quantum_trader.execution.venue.Venue` port over a ccxt client."""

    def __init__(
        self,
        client: CcxtClient,
        *,
        timeout_errors: Sequence[type[BaseException]] = (TimeoutError,),
        not_found_errors: Sequence[type[BaseException]] = (),
    ) -> None:
        self.client = client
        self._timeouts = tuple(timeout_errors)
        self._not_found = tuple(not_found_errors)
        self._listener: ExecutionListener = _NullListener()
        self._orders: dict[str, Order] = {}
        self._fees: dict[str, float] = {}

    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        self.client.set_leverage(int(leverage), _venue_symbol(symbol))

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        params: dict[str, Any] = {"newClientOrderId": order.client_order_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        if order.stop_price is not None:
            params["stopPrice"] = order.stop_price
        if good_till is not None:
            params["timeInForce"] = "GTD"
            params["goodTillDate"] = good_till
        # known before the call, so that after a timeout it can be looked up by client id
        self._orders.setdefault(order.client_order_id, order)
        try:
            raw = self.client.create_order(
                _venue_symbol(order.symbol),
                order.order_type.value.lower(),
                order.side.value.lower(),
                order.quantity,
                order.price,
                params,
            )
        except self._timeouts as exc:
            raise TimeoutError(f"create_order {order.client_order_id}: {exc}") from exc
        return self._absorb(order, raw)

    def cancel(self, client_order_id: str) -> Order:
        known = self._known(client_order_id)
        raw = self.client.cancel_order(
            None, _venue_symbol(known.symbol), {"origClientOrderId": client_order_id}
        )
        return self._absorb(known, raw)

    def fetch_order(self, client_order_id: str) -> Order | None:
        known = self._orders.get(client_order_id)
        if known is None:
            raise OrderRejectedError(
                f"fetch_order {client_order_id!r}: unknown to this session; its symbol is needed"
            )
        try:
            raw = self.client.fetch_order(
                None, _venue_symbol(known.symbol), {"origClientOrderId": client_order_id}
            )
        except self._not_found:
            return None
        return self._absorb(known, raw)

    def poll(self) -> list[Order]:
        """Refresh every open order; reports new fills and status changes to the listener."""
        out = []
        for cid, order in list(self._orders.items()):
            if not order.status.is_terminal:
                refreshed = self.fetch_order(cid)
                if refreshed is not None:
                    out.append(refreshed)
        return out

    def positions(self) -> dict[str, Position]:
        out: dict[str, Position] = {}
        for raw in self.client.fetch_positions():
            contracts = float(raw.get("contracts") or 0.0)
            if contracts == 0:
                continue
            symbol = str(raw["info"].get("symbol") or raw["symbol"].split("/")[0] + "USDT")
            signed = contracts if raw.get("side") == "long" else -contracts
            out[symbol] = Position(
                symbol, signed, float(raw["entryPrice"]), float(raw.get("leverage") or 1.0)
            )
        return out

    def balance(self) -> float:
        return float(self.client.fetch_balance()["USDT"]["total"])

    # ------------------------------------------------------------------ mapping
    def _known(self, client_order_id: str) -> Order:
        known = self._orders.get(client_order_id)
        if known is None:
            raise OrderRejectedError(f"unknown client order id {client_order_id!r}")
        return known

    def _absorb(self, order: Order, raw: Mapping[str, Any]) -> Order:
        """Merge the exchange's answer into our order; report a fill increment if any."""
        previous = self._orders.get(order.client_order_id, order)
        info = raw.get("info") or {}
        status = _STATUS.get(str(info.get("status", "")).upper())
        filled = float(raw.get("filled") or 0.0)
        average = float(raw.get("average") or 0.0)
        if status is None:
            status = _UNIFIED_STATUS.get(str(raw.get("status")), OrderStatus.NEW)
            if status is OrderStatus.NEW and filled > 0:
                status = OrderStatus.PARTIALLY_FILLED
        updated = previous
        increment = filled - previous.filled_quantity
        if increment > 1e-12:
            value = average * filled - previous.average_price * previous.filled_quantity
            price = value / increment if value > 0 else average
            updated = previous.apply_fill(
                increment, price, int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0)
            )
            fee_total = float((raw.get("fee") or {}).get("cost") or 0.0)
            fee = fee_total - self._fees.get(order.client_order_id, 0.0)
            self._fees[order.client_order_id] = fee_total
            # the id names the order and how much of it is filled with this fill: the same
            # report read again (a second poll, after a restart) is the same fill, and two
            # different fills never share an id (a counter would start again at a restart)
            fill = Fill(
                f"{order.client_order_id}@{filled:.12g}",
                order.client_order_id,
                order.symbol,
                order.side,
                increment,
                price,
                fee,
                updated.updated_at or 0,
                is_maker=order.order_type is OrderType.LIMIT,
            )
            self._orders[order.client_order_id] = updated
            self._listener.on_fill(fill, updated)
        if updated.status is not status and not updated.status.is_terminal:
            updated = updated.transition(
                status, int(raw.get("timestamp") or 0), str(info.get("status", ""))
            )
            self._orders[order.client_order_id] = updated
            self._listener.on_order_update(updated)
        self._orders[order.client_order_id] = updated
        return updated
