"""Live venue: Binance USDT-M perpetual futures through a ccxt client (one-way mode).

The ccxt client is injected (any object with ccxt's unified methods), with the exception types
sorted by what they mean (:class:`VenueErrors`; ``adapters/ccxt_venue_client.py`` passes
ccxt's). Every request first takes a slot of a :class:`RequestBudget` (requests per minute, on
top of ccxt's own limiter); a rate-limit answer (429, or 418 for a ban) pauses the budget for
its ``Retry-After`` (else an exponential backoff) and the request is sent again, so a backoff
never spends more than the budget.

Unknown outcome, never a blind re-send: a submit that got no answer — a timeout, a dropped
connection, a 5xx, all ccxt ``NetworkError`` s — surfaces as ``TimeoutError``, and the order
manager looks the order up by its client order id before anything is sent again. A submit the
venue refuses because the client order id exists already (Binance ``-4116``) is answered by
the same lookup. Other refusals are a REJECTED order with the venue's reason.

Fills are discovered by :meth:`CcxtVenue.poll`, which refreshes every open order; when its
filled quantity grew, the order's trades (``userTrades``) are read and each trade not yet
reported is a fill, id ``{client_order_id}#{trade id}`` — the same id
:meth:`CcxtVenue.recent_fills` gives the trade, so reconciliation and polling agree on what was
heard. A client without ``fetch_my_trades`` reports the increase of the filled quantity as one
fill, id ``{client_order_id}@{filled}``. Nothing here runs unless :func:`check_live_gate`
passed: ``--live``, API keys and an explicit confirmation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import ConfigError, DataError, OrderRejectedError
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType
from quantum_trader.domain.positions import Position
from quantum_trader.execution.ccxt_conditional import (
    CONDITIONAL,
    actual_order_id,
    as_became,
    as_order,
    fit_close_all,
    params_for,
    with_close_quantity,
)
from quantum_trader.execution.ccxt_mapping import (
    fill_from_trade,
    order_from_ccxt,
    order_status,
    plain_symbol,
    retry_after_s,
    trade_order_id,
)
from quantum_trader.execution.request_budget import RequestBudget
from quantum_trader.execution.venue import ExecutionListener, VenueFunding

CONFIRMATION = "I-ACCEPT-REAL-ORDERS"
#: Binance's weight limit per minute for USDT-M futures: the default budget
DEFAULT_REQUESTS_PER_MINUTE = 2400
_T = TypeVar("_T")
_Errors = tuple[type[BaseException], ...]


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

    def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]: ...

    def fetch_funding_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]: ...

    # optional: a client without it reports fills as growth of the filled quantity
    def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class VenueErrors:
    """The client's exception types by meaning. ``timeouts``: no answer, the outcome is unknown
    (ccxt ``NetworkError``); ``rate_limited``: back off and send again (ccxt ``DDoSProtection``,
    ``RateLimitExceeded``; tested before ``timeouts``, of which they are subclasses in ccxt);
    ``not_found``: no such order; ``rejected``: the venue refused (ccxt ``ExchangeError``);
    ``duplicate_codes``: in a refusal's text, "this client order id exists" (Binance USDT-M
    answers ``{"code":-4116,"msg":"ClientOrderId is duplicated."}``); ``unknown_codes``: in a
    refusal's text, "execution status unknown" (Binance's -1000, -1001, -1006, -1007 and
    -1008, which ccxt raises as ``ExchangeError`` for some endpoints): an unknown outcome."""

    timeouts: _Errors = (TimeoutError,)
    not_found: _Errors = ()
    rate_limited: _Errors = ()
    rejected: _Errors = ()
    duplicate_codes: tuple[str, ...] = ("-4116",)
    unknown_codes: tuple[str, ...] = tuple(
        f'"code":{c}' for c in (-1000, -1001, -1006, -1007, -1008)
    )


@dataclass(frozen=True, slots=True)
class LiveGate:
    live: bool
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
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


class _VenueOrder:
    """What one poll hears, handed on in the venue's order of events, not the order in which
    the orders were refreshed: two fills of one symbol between two polls, the later order's
    first (a market entry filled at the open, an older limit entry at the close), would
    otherwise be booked reversed, and a position opened by one and closed by the other would
    close before it opened. Sorted by the event's time (a fill's trade time, a status change's
    update time); events of the same millisecond keep the order they were heard in."""

    def __init__(self) -> None:
        self._heard: list[tuple[int, int, Fill | None, Order]] = []

    def on_order_update(self, order: Order) -> None:
        self._heard.append((order.updated_at or 0, len(self._heard), None, order))

    def on_fill(self, fill: Fill, order: Order) -> None:
        self._heard.append((fill.time, len(self._heard), fill, order))

    def hand_on(self, listener: ExecutionListener) -> None:
        heard, self._heard = sorted(self._heard, key=lambda e: (e[0], e[1])), []
        for _, _, fill, order in heard:
            if fill is None:
                listener.on_order_update(order)
            else:
                listener.on_fill(fill, order)


class CcxtVenue:
    """The :class:`~quantum_trader.execution.venue.Venue` port over a ccxt client, with the
    account reads reconciliation needs (``positions``, ``balance``, ``open_orders``,
    ``recent_fills``).

    ``symbols``: the symbols whose trade history :meth:`recent_fills` reads besides those of the
    orders it knows (Binance's ``userTrades`` needs a symbol). ``max_backoffs``: rate-limit
    answers in a row before a request gives up with ``TimeoutError``; ``backoff_s``: the first
    wait when an answer has no ``Retry-After`` (doubled each time, at most a minute).
    """

    def __init__(
        self,
        client: CcxtClient,
        *,
        timeout_errors: Sequence[type[BaseException]] = (TimeoutError,),
        not_found_errors: Sequence[type[BaseException]] = (),
        errors: VenueErrors | None = None,
        budget: RequestBudget | None = None,
        symbols: Sequence[str] = (),
        max_backoffs: int = 5,
        backoff_s: float = 1.0,
    ) -> None:
        self.client = client
        self.errors = errors or VenueErrors(tuple(timeout_errors), tuple(not_found_errors))
        self.budget = budget or RequestBudget(
            DEFAULT_REQUESTS_PER_MINUTE, time.monotonic, time.sleep
        )
        self._symbols = tuple(symbols)
        self._max_backoffs = max_backoffs
        self._backoff_s = backoff_s
        self._listener: ExecutionListener = _NullListener()
        self._orders: dict[str, Order] = {}
        self._fees: dict[str, float] = {}
        self._venue_ids: dict[str, str] = {}  # client order id → the venue's order id
        self._client_ids: dict[str, str] = {}  # the venue's order id → client order id
        #: requests sent, rate-limit answers, and poll refreshes that got no answer
        self.requests = 0
        self.rate_limited = 0
        self.poll_failures = 0

    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        venue_symbol = _venue_symbol(symbol)
        self._call("set_leverage", self.client.set_leverage, int(leverage), venue_symbol)

    # ------------------------------------------------------------------ orders
    def submit(self, order: Order, good_till: int | None = None) -> Order:
        params: dict[str, Any] = {"newClientOrderId": order.client_order_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        if order.stop_price is not None:
            params["stopPrice"] = order.stop_price
        if good_till is not None:
            params["timeInForce"] = "GTD"
            params["goodTillDate"] = good_till
        venue_symbol = _venue_symbol(order.symbol)
        # known before the call, so that after a timeout it can be looked up by client id
        self._orders.setdefault(order.client_order_id, order)
        try:
            raw = self._call(
                f"create_order {order.client_order_id}",
                self.client.create_order,
                venue_symbol,
                order.order_type.value.lower(),
                order.side.value.lower(),
                order.quantity,
                order.price,
                params,
            )
        except self.errors.rejected as exc:
            return self._refused(order, exc)
        return self._absorb(order, raw)

    def _refused(self, order: Order, exc: BaseException) -> Order:
        cid = order.client_order_id
        if any(code in str(exc) for code in self.errors.duplicate_codes):
            # the venue holds this client id already (an earlier send whose answer was lost):
            # that order is the answer, never a second one
            found = self.fetch_order(cid)
            if found is not None:
                return found
            raise TimeoutError(f"create_order {cid}: duplicate id, yet not found: {exc}") from exc
        refused = self._orders.get(cid, order)
        if not refused.status.is_terminal:
            refused = refused.transition(OrderStatus.REJECTED, order.created_at, f"venue: {exc}")
        self._orders[cid] = refused
        return refused

    def cancel(self, client_order_id: str) -> Order:
        known = self._known(client_order_id)
        raw = self._call(
            f"cancel_order {client_order_id}",
            self.client.cancel_order,
            None,
            _venue_symbol(known.symbol),
            params_for(known, {"origClientOrderId": client_order_id}),
        )
        return self._absorb(known, raw)

    def fetch_order(self, client_order_id: str, symbol: str | None = None) -> Order | None:
        """The venue's view of an order (None: the venue never received it). An order this
        session did not submit (a restart, an order placed by hand) needs its ``symbol``; it is
        returned as the venue holds it and followed by :meth:`poll` from then on. Such an order
        not found among the plain orders is looked for among the stops (the algo-order API)."""
        known = self._orders.get(client_order_id)
        if known is None and symbol is None:
            raise OrderRejectedError(
                f"fetch_order {client_order_id!r}: unknown to this session; its symbol is needed"
            )
        params = {"origClientOrderId": client_order_id}
        tries = [params_for(known, params)] if known else [params, {**params, **CONDITIONAL}]
        venue_symbol = _venue_symbol(known.symbol if known is not None else str(symbol))
        for attempt in tries:
            raw = self._read(f"fetch_order {client_order_id}", None, venue_symbol, attempt)
            if raw is not None:
                raw = self._triggered(raw, venue_symbol)
                return self._adopt(raw) if known is None else self._absorb(known, raw)
        return None

    def _read(self, what: str, *args: Any, absent: _Errors = ()) -> dict[str, Any] | None:
        """``client.fetch_order(*args)``; None: the venue has no such order (or ``absent``)."""
        try:
            return self._call(what, self.client.fetch_order, *args)
        except self.errors.not_found + absent:
            return None

    def _triggered(self, raw: dict[str, Any], venue_symbol: str) -> dict[str, Any]:
        """A triggered stop read as the order it became (``ccxt_conditional.actual_order_id``):
        its status and trades are that order's (until it is readable, the stop's own answer);
        a stop still waiting, or a plain order, as is."""
        actual = actual_order_id(raw)
        if actual is None:
            return raw
        return self._read(f"fetch_order #{actual}", actual, venue_symbol) or raw

    def track(self, orders: Iterable[Order]) -> None:
        """Orders an earlier process sent (the journal, after a restart), known from now on as
        if this session had sent them: looked up by client id, refreshed by :meth:`poll`, their
        fills reported past the filled quantity the journal holds."""
        for order in orders:
            self._orders.setdefault(order.client_order_id, order)

    def poll(self) -> list[Order]:
        """Refresh every open order; reports new fills and status changes to the listener. An
        order the venue does not answer for (an outage) is left as it was and refreshed at the
        next poll; its fills are reported then, once each (``poll_failures`` counts them).
        What the poll hears reaches the listener in the venue's time order (:class:`_VenueOrder`),
        once every order is refreshed."""
        out, listener, heard = [], self._listener, _VenueOrder()
        self._listener = heard
        try:
            for cid, order in list(self._orders.items()):
                if order.status.is_terminal:
                    continue
                try:
                    refreshed = self.fetch_order(cid)
                except TimeoutError:
                    self.poll_failures += 1
                    continue
                if refreshed is not None:
                    out.append(refreshed)
        finally:
            self._listener = listener
            heard.hand_on(listener)
        return out

    def open_orders(self) -> list[Order]:
        """The venue's open orders as it holds them, those this session never submitted
        included (after a restart); those are followed by :meth:`poll` from then on. The stops
        are listed apart (the algo-order API, ``ccxt_conditional.py``)."""
        raws = self._call("fetch_open_orders", self.client.fetch_open_orders)
        fetch = self.client.fetch_open_orders
        stops = self._call("fetch_open_orders stops", fetch, None, None, None, dict(CONDITIONAL))
        sized = with_close_quantity(stops, self.positions)  # close-all: the position's size
        return [self._adopt(raw) for raw in (*raws, *sized)]

    def _adopt(self, raw: Mapping[str, Any]) -> Order:
        """An order read from the venue, remembered when unknown (nothing is reported: the
        venue's state is the starting point)."""
        venue_order = order_from_ccxt(as_order(raw))
        cid = venue_order.client_order_id
        self._remember_id(cid, raw)
        self._orders.setdefault(cid, venue_order)
        return venue_order

    # ------------------------------------------------------------------ account
    def positions(self) -> dict[str, Position]:
        out: dict[str, Position] = {}
        for raw in self._call("fetch_positions", self.client.fetch_positions):
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
        """The USDT wallet balance: without unrealised PnL, as the book's wallet balance is
        (ccxt's ``total`` for linear futures is the margin balance, which includes it)."""
        raw = self._call("fetch_balance", self.client.fetch_balance)
        info = raw.get("info") or {}
        for asset in info.get("assets") or ():
            if asset.get("asset") == "USDT" and asset.get("walletBalance") is not None:
                return float(asset["walletBalance"])
        if info.get("totalWalletBalance") is not None:
            return float(info["totalWalletBalance"])
        return float(raw["USDT"]["total"])  # a client without Binance's raw answer

    def recent_fills(self, since_ms: int) -> list[Fill]:
        """The account's trades since ``since_ms`` as fills, oldest first, for every symbol in
        ``symbols`` or of an order this session knows; ids as :meth:`poll` gives them. A trade
        of an order this session never saw is attributed by looking the order up by its venue
        id, and read as the stop it came from when there is one (:meth:`_as_its_stop`).
        (Binance answers at most seven days from ``since_ms``.)"""
        symbols = set(self._symbols) | {o.symbol for o in self._orders.values()}
        fills: list[Fill] = []
        for symbol in sorted(symbols):
            for trade in self._trades(symbol, since_ms, {}):
                cid = self._client_id_of(symbol, trade_order_id(trade))
                fills.append(fill_from_trade(trade, cid))
        return sorted(fills, key=lambda f: (f.time, f.fill_id))

    def funding_since(self, since_ms: int) -> list[VenueFunding]:
        """The account's funding payments from ``since_ms``, oldest first, every symbol (one
        page of 1,000: a poll reads the few hours since the last one)."""
        raws = self._call(
            "fetch_funding_history", self.client.fetch_funding_history, None, since_ms, 1000
        )
        out = [
            VenueFunding(str(r["id"]), plain_symbol(r), float(r["amount"]), int(r["timestamp"]))
            for r in raws
        ]
        return sorted(out, key=lambda f: (f.time, f.income_id))

    def _trades(self, symbol: str, since_ms: int | None, params: dict[str, Any]) -> list[Any]:
        """Every trade from ``since_ms`` (pages of 1,000), each once, by ascending id."""
        fetch = self.client.fetch_my_trades
        seen: dict[str, Any] = {}
        since = since_ms
        while True:
            page = self._call(
                f"fetch_my_trades {symbol}", fetch, _venue_symbol(symbol), since, 1000, params
            )
            fresh = [t for t in page if str(t["id"]) not in seen]
            seen.update((str(t["id"]), t) for t in fresh)
            if len(page) < 1000 or not fresh:
                break
            since = max(int(t.get("timestamp") or 0) for t in page)
        return sorted(seen.values(), key=lambda t: int(t["id"]))

    def _client_id_of(self, symbol: str, venue_id: str) -> str:
        cid = self._client_ids.get(venue_id)
        if cid is not None:
            return cid
        venue_symbol = _venue_symbol(symbol)
        raw = self._read(f"fetch_order #{venue_id}", venue_id, venue_symbol)
        if raw is None:
            return f"venue-order-{venue_id}"  # a foreign order: reconciliation halts on it
        return self._adopt(self._as_its_stop(raw, venue_symbol)).client_order_id

    def _as_its_stop(self, raw: dict[str, Any], venue_symbol: str) -> Mapping[str, Any]:
        """An order this session never saw, read as the stop that became it when the algo-order
        API says so (``ccxt_conditional.as_became``): a stop set by hand that fired before any
        listing read it (its client id asked there). None there, or refused: the order as it
        is. No answer raises before anything is remembered: the next reading asks again."""
        cid = str(raw.get("clientOrderId") or "")
        if not cid or cid in self._orders:
            return raw
        absent, params = self.errors.rejected, {"origClientOrderId": cid, **CONDITIONAL}
        stop = self._read(f"fetch_order {cid}", None, venue_symbol, params, absent=absent)
        return as_became(stop, raw) if stop is not None else raw

    # ------------------------------------------------------------------ requests
    def _call(self, what: str, fn: Callable[..., _T], *args: Any) -> _T:
        """One request within the budget; rate-limit answers back off and send again, no
        answer is ``TimeoutError`` (the outcome is unknown)."""
        backoffs = 0
        while True:
            self.budget.acquire()
            self.requests += 1
            try:
                return fn(*args)
            except self.errors.rate_limited as exc:
                self.rate_limited += 1
                backoffs += 1
                if backoffs > self._max_backoffs:
                    raise TimeoutError(f"{what}: rate limited {backoffs} times: {exc}") from exc
                headers = getattr(self.client, "last_response_headers", None)
                wait = retry_after_s(headers if isinstance(headers, Mapping) else None)
                if wait is None:
                    wait = min(self._backoff_s * 2 ** (backoffs - 1), 60.0)
                self.budget.pause(wait)
            except self.errors.timeouts as exc:
                raise TimeoutError(f"{what}: no answer: {exc}") from exc
            except self.errors.rejected as exc:
                if any(code in str(exc) for code in self.errors.unknown_codes):
                    raise TimeoutError(f"{what}: outcome unknown: {exc}") from exc
                raise

    # ------------------------------------------------------------------ mapping
    def _known(self, client_order_id: str) -> Order:
        known = self._orders.get(client_order_id)
        if known is None:
            raise OrderRejectedError(f"unknown client order id {client_order_id!r}")
        return known

    def _remember_id(self, cid: str, raw: Mapping[str, Any]) -> None:
        venue_id = str(raw.get("id") or (raw.get("info") or {}).get("orderId") or "")
        if venue_id:
            self._venue_ids[cid] = venue_id
            self._client_ids[venue_id] = cid

    def _absorb(self, order: Order, raw: Mapping[str, Any]) -> Order:
        """Merge the exchange's answer into our order; report the fills it shows, if any."""
        raw, cid = as_order(raw), order.client_order_id
        self._remember_id(cid, raw)
        previous = self._orders.get(cid, order)
        status = order_status(raw)
        updated = previous
        if float(raw.get("filled") or 0.0) - previous.filled_quantity > 1e-12:
            if hasattr(self.client, "fetch_my_trades") and cid in self._venue_ids:
                updated = self._report_trades(previous)
            else:
                updated = self._report_increment(previous, raw)
        fill_status = status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
        # fills move an order to PARTIALLY_FILLED / FILLED; other changes are reported here
        if updated.status is not status and not updated.status.is_terminal and not fill_status:
            info = raw.get("info") or {}
            # when the venue changed it (ccxt's ``timestamp`` is the order's creation time)
            at = raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0
            updated = updated.transition(status, int(at), str(info.get("status", "")))
            self._orders[cid] = updated
            self._listener.on_order_update(updated)
        self._orders[cid] = updated
        return updated

    def _report_trades(self, order: Order) -> Order:
        """Report the order's trades past its filled quantity, one fill each. Trades not yet
        readable (no answer) are reported by a later poll."""
        cid = order.client_order_id
        try:
            trades = self._trades(order.symbol, None, {"orderId": self._venue_ids[cid]})
        except TimeoutError:
            self.poll_failures += 1
            return order
        heard, updated = 0.0, order
        for trade in trades:
            heard += float(trade["amount"])
            if heard <= order.filled_quantity + 1e-12:
                continue  # reported before (this session, or the state it adopted)
            fill = fill_from_trade(trade, cid)
            updated = fit_close_all(updated, fill.quantity)  # the position may have grown
            updated = updated.apply_fill(fill.quantity, fill.price, fill.time)
            self._orders[cid] = updated
            self._listener.on_fill(fill, updated)
        return updated

    def _report_increment(self, previous: Order, raw: Mapping[str, Any]) -> Order:
        """One fill for the growth of the filled quantity (a client without trade history)."""
        cid = previous.client_order_id
        filled = float(raw.get("filled") or 0.0)
        average = float(raw.get("average") or 0.0)
        increment = filled - previous.filled_quantity
        value = average * filled - previous.average_price * previous.filled_quantity
        price = value / increment if value > 0 else average
        updated = previous.apply_fill(
            increment, price, int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0)
        )
        fee_total = float((raw.get("fee") or {}).get("cost") or 0.0)
        fee = fee_total - self._fees.get(cid, 0.0)
        self._fees[cid] = fee_total
        # the id names the order and how much of it is filled with this fill: the same report
        # read again (a second poll, after a restart) is the same fill, and two different fills
        # never share an id (a counter would start again at a restart)
        fill = Fill(
            f"{cid}@{filled:.12g}",
            cid,
            previous.symbol,
            previous.side,
            increment,
            price,
            fee,
            updated.updated_at or 0,
            is_maker=previous.order_type is OrderType.LIMIT,
        )
        self._orders[cid] = updated
        self._listener.on_fill(fill, updated)
        return updated
