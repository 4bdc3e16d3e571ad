"""The exchange double's HTTP face: the subset of Binance USDT-M futures REST that ccxt's
``binanceusdm`` calls for what :class:`~quantum_trader.execution.ccxt_venue.CcxtVenue` does
(read from ccxt 4.5.90's ``binance.py``): ``load_markets`` (``/fapi/v1/exchangeInfo``, and
``/fapi/v1/time`` with ``adjustForTimeDifference``), orders (``/fapi/v1/order`` POST, GET,
DELETE; ``/fapi/v1/openOrders``), ``/fapi/v1/userTrades``, ``/fapi/v1/income`` (funding),
``/fapi/v1/leverage``, ``/fapi/v1/commissionRate`` (the account's fee tier), conditional orders
on the algo-order API (``/fapi/v1/algoOrder`` POST, GET, DELETE; ``/fapi/v1/openAlgoOrders``:
where ccxt 4.5.90 sends every order with a trigger price, ``book.py``; triggered as
``conditional.py`` says), and the
account reads ccxt sends to v3 by default (``positionRisk``, ``account``; v2 answers the same,
with ``leverageBracket`` that ``fetch_positions`` loads first). Signatures are not verified
(``commissionRate`` checks that one is sent); ``timestamp`` is checked, against ``recvWindow``
and the venue's (possibly skewed) clock.

Why stdlib ``ThreadingHTTPServer`` in a thread: the client under test is ccxt's synchronous
``requests`` session, which needs a real socket; a thread per connection lets a stalled answer
(a fault) hang without blocking the next request, and it adds no dependency to the project.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.exchange_double.book import (
    MARKETS,
    Book,
    Position,
    VenueError,
    VenueOrder,
    not_found,
)
from tests.exchange_double.conditional import algo_json
from tests.exchange_double.faults import Faults

Params = dict[str, str]


def now_ms() -> int:
    return int(time.time() * 1000)


class ExchangeDouble:
    """Start with :meth:`start` (or ``with``); ``base_url`` is what ccxt is pointed at."""

    def __init__(self, book: Book | None = None, faults: Faults | None = None) -> None:
        self.book = book or Book()
        self.faults = faults or Faults()
        self.requests: Counter[str] = Counter()  # "METHOD /path" → count, every request seen
        self.request_times: list[float] = []  # time.monotonic() of each request
        self.created = 0  # create-order requests that booked an order
        self.api_keys: Counter[str] = Counter()  # the X-MBX-APIKEY header of each request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the double first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ExchangeDouble:
        double = self

        class Handler(_Handler):
            exchange = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ExchangeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def venue_now(self) -> int:
        return now_ms() + self.faults.clock_skew_ms

    # ------------------------------------------------------------------ dispatch
    def answer(
        self, method: str, path: str, params: Params, api_key: str = ""
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, body, headers) or raises :class:`_Drop`; under the book's lock, except a
        stall, which waits outside it."""
        stall = False
        with self.book.lock:
            self.requests[f"{method} {path}"] += 1
            self.api_keys[api_key] += 1
            self.request_times.append(time.monotonic())
            f = self.faults
            if f.is_disconnected() or f.drops(f"{method} {path}"):
                raise _Drop(0.0)
            fire, f.rate_limit_next = f.take(f.rate_limit_next)
            if fire:
                body = {"code": -1003, "msg": "Too many requests; current limit is exceeded."}
                return f.rate_limit_status, body, {"Retry-After": str(f.retry_after_s)}
            fire, f.server_error_next = f.take(f.server_error_next)
            if fire:
                return f.server_error()
            if f.invalid_key and "signature" in params:
                body = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
                return 401, body, {}
            try:
                self._check_timestamp(params)
                handler = _ROUTES.get((method, _unversioned(path)))
                if handler is None:
                    return (
                        404,
                        {"code": -5000, "msg": f"Path {path}, Method {method} is invalid"},
                        {},
                    )
                result = handler(self, params)
            except VenueError as exc:
                return exc.status, {"code": exc.code, "msg": exc.msg}, {}
            if (method, path) == ("POST", "/fapi/v1/order"):
                fire, f.server_error_after_accept_next = f.take(f.server_error_after_accept_next)
                if fire:
                    return f.server_error()
                if f.draw_timeout():
                    if f.timeout_mode == "drop":
                        raise _Drop(0.0)
                    stall = True
        if stall:
            raise _Drop(f.stall_s)
        return 200, result, {}

    def _check_timestamp(self, params: Params) -> None:
        if "timestamp" not in params:
            return
        ts, window = int(params["timestamp"]), int(params.get("recvWindow", "5000"))
        venue = self.venue_now()
        if ts > venue + 1000 or venue - ts > window:
            raise VenueError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # ------------------------------------------------------------------ endpoints
    def exchange_info(self, params: Params) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": self.venue_now(),
            "rateLimits": [],
            "assets": [],
            "symbols": [_market_json(s) for s in MARKETS],
        }

    def create_order(self, params: Params) -> Any:
        self._reject_if_due()
        order = self.book.create(
            symbol=params.get("symbol", ""),
            side=params.get("side", ""),
            type=params.get("type", ""),
            quantity=float(params.get("quantity", "0")),
            price=float(params.get("price", "0")),
            reduce_only=params.get("reduceOnly", "false").lower() == "true",
            client_order_id=params.get("newClientOrderId") or f"double-{len(self.book.orders)}",
            now_ms=now_ms(),
        )
        self.created += 1
        return _order_json(order)

    def create_algo_order(self, params: Params) -> Any:
        """``POST /fapi/v1/algoOrder``: a conditional order (``algoType=CONDITIONAL``, its
        trigger in ``triggerPrice``, its client id in ``clientAlgoId``)."""
        self._reject_if_due()
        if params.get("algoType") != "CONDITIONAL":
            raise VenueError(400, -1102, "Mandatory parameter 'algoType' was not sent.")
        order = self.book.create(
            symbol=params.get("symbol", ""),
            side=params.get("side", ""),
            type=params.get("type", ""),
            quantity=float(params.get("quantity", "0")),
            price=0.0,
            reduce_only=params.get("reduceOnly", "false").lower() == "true",
            client_order_id=params.get("clientAlgoId")
            or f"double-algo-{len(self.book.algo_orders)}",
            now_ms=now_ms(),
            stop_price=float(params.get("triggerPrice", "0")),
            algo=True,
            close_position=params.get("closePosition", "false").lower() == "true",
        )
        self.created += 1
        return self._algo_json(order)

    def _algo_json(self, order: VenueOrder) -> dict[str, Any]:
        book = self.book
        return algo_json(order, book.algo_status(order), book.actual_order(order))

    def _find_algo(self, params: Params) -> VenueOrder:
        aid = params.get("algoId")
        order = self.book.find_algo(
            algo_id=int(aid) if aid else None, client_algo_id=params.get("clientAlgoId")
        )
        if params.get("symbol") and order.symbol != params["symbol"]:
            raise VenueError(400, -2013, "Order does not exist.")
        return order

    def query_algo_order(self, params: Params) -> Any:
        return self._algo_json(self._find_algo(params))

    def cancel_algo_order(self, params: Params) -> Any:
        """Binance answers a cancelled algo order with its ids and a success code only."""
        order = self.book.cancel(self._find_algo(params), now_ms())
        return {
            "algoId": order.order_id,
            "clientAlgoId": order.client_order_id,
            "code": "200",
            "msg": "success",
        }

    def open_algo_orders(self, params: Params) -> Any:
        return [self._algo_json(o) for o in self.book.open_algo_orders(params.get("symbol"))]

    def _reject_if_due(self) -> None:
        f = self.faults
        fire, f.reject_next = f.take(f.reject_next)
        if fire:
            raise VenueError(400, f.reject_code, f.reject_msg)

    def query_order(self, params: Params) -> Any:
        return _order_json(self._find(params))

    def cancel_order(self, params: Params) -> Any:
        return _order_json(self.book.cancel(self._find(params), now_ms()))

    def _find(self, params: Params) -> VenueOrder:
        oid = params.get("orderId")
        order = self.book.find(
            order_id=int(oid) if oid else None, client_order_id=params.get("origClientOrderId")
        )
        if params.get("symbol") and order.symbol != params["symbol"]:
            raise not_found()
        return order

    def open_orders(self, params: Params) -> Any:
        return [_order_json(o) for o in self.book.open_orders(params.get("symbol"))]

    def user_trades(self, params: Params) -> Any:
        symbol = params.get("symbol")
        if not symbol:
            raise VenueError(400, -1102, "Mandatory parameter 'symbol' was not sent.")
        oid = int(params["orderId"]) if params.get("orderId") else None
        start = int(params.get("startTime", "0"))
        limit = int(params.get("limit", "500"))
        out = [
            t
            for t in self.book.trades
            if t.symbol == symbol and oid in (None, t.order_id) and t.time >= start
        ]
        return [_trade_json(t) for t in out[:limit]]

    def income(self, params: Params) -> Any:
        """``/fapi/v1/income``: the funding settled on the account (the only income kind the
        double has), oldest first, from ``startTime``, at most ``limit``."""
        kind = params.get("incomeType")
        if kind not in (None, "FUNDING_FEE"):
            return []
        start = int(params.get("startTime", "0"))
        symbol = params.get("symbol")
        limit = int(params.get("limit", "100"))
        out = [i for i in self.book.incomes if i.time >= start and symbol in (None, i.symbol)]
        return [
            {
                "symbol": i.symbol,
                "incomeType": "FUNDING_FEE",
                "income": str(i.income),
                "asset": "USDT",
                "info": "FUNDING_FEE",
                "time": i.time,
                "tranId": i.tran_id,
                "tradeId": "",
            }
            for i in out[:limit]
        ]

    def commission_rate(self, params: Params) -> Any:
        """``/fapi/v1/commissionRate``: the account's rates on one symbol (signed, as every
        account read: its ``timestamp`` is checked), with the fields a fault replaces."""
        for name in ("symbol", "timestamp", "signature"):
            if not params.get(name):
                raise VenueError(400, -1102, f"Mandatory parameter '{name}' was not sent.")
        symbol = params["symbol"]
        if symbol not in MARKETS:
            raise VenueError(400, -1121, "Invalid symbol.")
        maker, taker = self.book.commission_rates(symbol)
        body: dict[str, Any] = {
            "symbol": symbol,
            "makerCommissionRate": f"{maker:.6f}",
            "takerCommissionRate": f"{taker:.6f}",
        }
        for name, value in self.faults.commission_fields.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    def position_risk(self, params: Params) -> Any:
        out = []
        for symbol in MARKETS:
            pos = self.book.positions.get(symbol)
            amount, entry = (pos.amount, pos.entry) if pos else (0.0, 0.0)
            mark = self.book.marks[symbol]
            out.append(
                {
                    "symbol": symbol,
                    "positionSide": "BOTH",
                    "positionAmt": f"{amount:.3f}",
                    "entryPrice": str(entry),
                    "breakEvenPrice": str(entry),
                    "markPrice": str(mark),
                    "unRealizedProfit": str(self.book.unrealized(symbol)),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": str(amount * mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": "0",
                    "maintMargin": "0",
                    "positionInitialMargin": "0",
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "marginType": "cross",
                    "leverage": str(pos.leverage if pos else 20),
                    "updateTime": now_ms(),
                }
            )
        return out

    def account(self, params: Params) -> Any:
        unrealized = sum(self.book.unrealized(s) for s in MARKETS)
        wallet, margin = self.book.wallet, self.book.wallet + unrealized
        asset = {
            "asset": "USDT",
            "walletBalance": str(wallet),
            "unrealizedProfit": str(unrealized),
            "marginBalance": str(margin),
            "maintMargin": "0",
            "initialMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "crossWalletBalance": str(wallet),
            "crossUnPnl": str(unrealized),
            "availableBalance": str(margin),
            "maxWithdrawAmount": str(wallet),
            "updateTime": now_ms(),
        }
        return {
            "totalWalletBalance": str(wallet),
            "totalUnrealizedProfit": str(unrealized),
            "totalMarginBalance": str(margin),
            "availableBalance": str(margin),
            "maxWithdrawAmount": str(wallet),
            "assets": [asset],
            "positions": [],
        }

    def leverage(self, params: Params) -> Any:
        symbol, lev = params.get("symbol", ""), int(params.get("leverage", "1"))
        if symbol not in MARKETS or not 1 <= lev <= 125:
            raise VenueError(400, -4028, f"Leverage {lev} is not valid")
        self.book.positions.setdefault(symbol, Position()).leverage = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": symbol}

    def leverage_bracket(self, params: Params) -> Any:
        bracket = {
            "bracket": 1,
            "initialLeverage": 125,
            "notionalCap": 1_000_000,
            "notionalFloor": 0,
            "maintMarginRatio": 0.004,
            "cum": 0.0,
        }
        return [{"symbol": s, "brackets": [bracket]} for s in MARKETS]

    def server_time(self, params: Params) -> Any:
        return {"serverTime": self.venue_now()}


_Endpoint = Callable[[ExchangeDouble, Params], Any]
_ROUTES: dict[tuple[str, str], _Endpoint] = {
    ("GET", "time"): ExchangeDouble.server_time,
    ("GET", "ping"): lambda _d, _p: {},
    ("GET", "exchangeInfo"): ExchangeDouble.exchange_info,
    ("POST", "order"): ExchangeDouble.create_order,
    ("GET", "order"): ExchangeDouble.query_order,
    ("DELETE", "order"): ExchangeDouble.cancel_order,
    ("GET", "openOrders"): ExchangeDouble.open_orders,
    ("POST", "algoOrder"): ExchangeDouble.create_algo_order,
    ("GET", "algoOrder"): ExchangeDouble.query_algo_order,
    ("DELETE", "algoOrder"): ExchangeDouble.cancel_algo_order,
    ("GET", "openAlgoOrders"): ExchangeDouble.open_algo_orders,
    ("GET", "userTrades"): ExchangeDouble.user_trades,
    ("GET", "income"): ExchangeDouble.income,
    ("GET", "commissionRate"): ExchangeDouble.commission_rate,
    ("GET", "positionRisk"): ExchangeDouble.position_risk,
    ("GET", "account"): ExchangeDouble.account,
    ("POST", "leverage"): ExchangeDouble.leverage,
    ("GET", "leverageBracket"): ExchangeDouble.leverage_bracket,
}


def _unversioned(path: str) -> str:
    """``/fapi/v3/account`` → ``account`` (v1, v2 and v3 answer alike here)."""
    parts = path.strip("/").split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "fapi" else path


class _Drop(Exception):  # a control-flow signal, not an error
    """Answer nothing and close the connection, after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class _Handler(BaseHTTPRequestHandler):
    exchange: ExchangeDouble
    protocol_version = "HTTP/1.1"  # keep-alive: ccxt's session reuses its connection
    # headers and body go out as two writes: with Nagle on, each answer waited ~40 ms for the
    # client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            params.update(parse_qsl(self.rfile.read(length).decode()))
        try:
            key = self.headers.get("X-MBX-APIKEY") or ""
            status, body, headers = self.exchange.answer(method, url.path, params, key)
        except _Drop as drop:
            if drop.delay:
                time.sleep(drop.delay)
            self.close_connection = True
            return
        raw = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall)
            self.close_connection = True


def _order_json(o: VenueOrder) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": str(o.price),
        "avgPrice": str(o.average),
        "origQty": str(o.quantity),
        "executedQty": str(o.filled),
        "cumQty": str(o.filled),
        "cumQuote": str(o.quote),
        "timeInForce": "GTC",
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": o.time,
        "updateTime": o.updated,
    }


def _trade_json(t: Any) -> dict[str, Any]:
    return {
        "buyer": t.side == "BUY",
        "commission": str(t.fee),
        "commissionAsset": "USDT",
        "id": t.trade_id,
        "maker": t.maker,
        "orderId": t.order_id,
        "price": str(t.price),
        "qty": str(t.qty),
        "quoteQty": str(t.price * t.qty),
        "realizedPnl": str(t.realized),
        "side": t.side,
        "positionSide": "BOTH",
        "symbol": t.symbol,
        "time": t.time,
    }


def _market_json(symbol: str) -> dict[str, Any]:
    m = MARKETS[symbol]
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": m.base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": str(m.tick),
                "maxPrice": "4529764",
                "tickSize": str(m.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": str(m.min_qty),
                "maxQty": "1000",
                "stepSize": str(m.step),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": str(m.min_qty),
                "maxQty": "120",
                "stepSize": str(m.step),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
