"""The live venue adapter, offline: a fake ccxt client answering with payloads in the shape
ccxt returns for Binance USDT-M (unified order/position/balance structures with the exchange's
``info``). They are written for these tests, not captured from the live API."""

from __future__ import annotations

from typing import Any

import pytest

from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import ConfigError, OrderRejectedError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.execution.ccxt_venue import CONFIRMATION, CcxtVenue, LiveGate, check_live_gate
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager


class OrderNotFound(Exception):
    pass


class RequestTimeout(Exception):
    pass


def _order(
    cid: str, status: str, filled: float, average: float | None, fee: float = 0.0
) -> dict[str, Any]:
    return {
        "id": "8389765563",
        "clientOrderId": cid,
        "timestamp": 1_700_000_000_000,
        "lastTradeTimestamp": 1_700_000_001_000 if filled else None,
        "symbol": "BTC/USDT:USDT",
        "type": "market",
        "side": "buy",
        "amount": 0.01,
        "filled": filled,
        "average": average,
        "status": {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed"}[status],
        "fee": {"cost": fee, "currency": "USDT"} if fee else None,
        "info": {
            "orderId": "8389765563",
            "symbol": "BTCUSDT",
            "status": status,
            "clientOrderId": cid,
        },
    }


class FakeBinance:
    def __init__(self) -> None:
        self.created: list[tuple[str, str, str, float, float | None, dict[str, Any]]] = []
        self.exchange_orders: dict[str, list[dict[str, Any]]] = {}
        self.timeout_next = False
        self.accept_before_timeout = True
        self.leverage: list[tuple[int, str]] = []

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params = params or {}
        self.created.append((symbol, type, side, amount, price, params))
        cid = params["newClientOrderId"]
        if self.timeout_next:
            self.timeout_next = False
            if self.accept_before_timeout:
                self.exchange_orders[cid] = [_order(cid, "NEW", 0.0, None)]
            raise RequestTimeout(
                "binanceusdm POST https://fapi.binance.com/fapi/v1/order timed out"
            )
        self.exchange_orders[cid] = [_order(cid, "NEW", 0.0, None)]
        return self.exchange_orders[cid][0]

    def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        cid = (params or {})["origClientOrderId"]
        if cid not in self.exchange_orders:
            raise OrderNotFound(f'binanceusdm {{"code":-2013,"msg":"Order does not exist."}} {cid}')
        states = self.exchange_orders[cid]
        return states.pop(0) if len(states) > 1 else states[0]

    def cancel_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        cid = (params or {})["origClientOrderId"]
        answer = _order(cid, "NEW", 0.0, None)
        answer["status"] = "canceled"
        answer["info"]["status"] = "CANCELED"
        return answer

    def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return [
            {
                "symbol": "BTC/USDT:USDT",
                "contracts": 0.01,
                "side": "long",
                "entryPrice": 36512.4,
                "leverage": 5,
                "info": {"symbol": "BTCUSDT", "positionAmt": "0.010"},
            },
            {
                "symbol": "ETH/USDT:USDT",
                "contracts": 0.0,
                "side": None,
                "entryPrice": 0.0,
                "leverage": 10,
                "info": {"symbol": "ETHUSDT", "positionAmt": "0.000"},
            },
        ]

    def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"USDT": {"free": 900.5, "used": 73.0, "total": 973.5}, "info": {}}

    def set_leverage(
        self, leverage: int, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        self.leverage.append((leverage, symbol or ""))
        return {"leverage": leverage, "symbol": "BTCUSDT"}


def _manager(fake: FakeBinance) -> tuple[OrderManager, CcxtVenue]:
    clock = SimulatedClock(1_700_000_000_000)
    venue = CcxtVenue(fake, timeout_errors=(RequestTimeout,), not_found_errors=(OrderNotFound,))
    om = OrderManager(
        venue, BINANCE_USDM, clock, InProcessBus(clock, "live"), "live", mark=lambda s: 36_500.0
    )
    return om, venue


def test_submit_sends_client_order_id_and_poll_reports_fills() -> None:
    fake = FakeBinance()
    om, venue = _manager(fake)
    order = om.submit("BTCUSDT", Side.BUY, 0.01, OrderType.MARKET, leverage=5, reduce_only=False)
    assert order.status is OrderStatus.NEW
    assert fake.leverage == [(5, "BTC/USDT:USDT")]
    assert fake.created[0][:4] == ("BTC/USDT:USDT", "market", "buy", 0.01)
    assert fake.created[0][5] == {"newClientOrderId": "live-BTCUSDT-1"}
    cid = order.client_order_id
    fake.exchange_orders[cid] = [
        _order(cid, "PARTIALLY_FILLED", 0.004, 36_500.0, fee=0.073),
        _order(cid, "FILLED", 0.01, 36_506.0, fee=0.1825),
    ]
    venue.poll()
    venue.poll()
    fills = om.fill_log
    assert [f.quantity for f in fills] == pytest.approx([0.004, 0.006])
    assert fills[0].price == pytest.approx(36_500.0)
    assert fills[1].price == pytest.approx((36_506.0 * 0.01 - 36_500.0 * 0.004) / 0.006)
    assert [f.fee for f in fills] == pytest.approx([0.073, 0.1095])
    assert om.get(cid).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_a_symbol_without_a_ccxt_name_is_a_rejected_order_and_nothing_is_sent() -> None:
    fake = FakeBinance()
    _, venue = _manager(fake)
    with pytest.raises(OrderRejectedError, match="no known quote currency"):
        venue.set_leverage("BTCEUR", 5)
    assert fake.leverage == []


def test_timeout_looks_the_order_up_by_client_id_and_never_resends_blindly() -> None:
    fake = FakeBinance()
    om, _ = _manager(fake)
    fake.timeout_next = True  # the exchange accepted it, the answer was lost
    order = om.submit("BTCUSDT", Side.BUY, 0.01)
    assert len(fake.created) == 1
    assert order.status is OrderStatus.NEW and order.client_order_id == "live-BTCUSDT-1"


def test_timeout_of_an_order_the_exchange_never_got_is_sent_once_more() -> None:
    fake = FakeBinance()
    om, _ = _manager(fake)
    fake.timeout_next = True
    fake.accept_before_timeout = False
    order = om.submit("BTCUSDT", Side.BUY, 0.01)
    assert len(fake.created) == 2  # looked up first (not found), then re-sent with the same id
    assert fake.created[0][5] == fake.created[1][5]
    assert order.status is OrderStatus.NEW


def test_cancel_positions_and_balance() -> None:
    fake = FakeBinance()
    om, venue = _manager(fake)
    order = om.submit("BTCUSDT", Side.BUY, 0.01, OrderType.LIMIT, price=36_000.0)
    canceled = om.cancel(order.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    positions = venue.positions()
    assert list(positions) == ["BTCUSDT"]
    assert positions["BTCUSDT"].quantity == 0.01 and positions["BTCUSDT"].entry_price == 36512.4
    assert venue.balance() == 973.5


@pytest.mark.parametrize(
    ("gate", "missing"),
    [
        (LiveGate(False, "k", "s", CONFIRMATION), "--live"),
        (LiveGate(True, "", "s", CONFIRMATION), "API key"),
        (LiveGate(True, "k", "s", "yes"), "--confirm"),
    ],
)
def test_live_gate_refuses_without_every_switch(gate: LiveGate, missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        check_live_gate(gate)
    check_live_gate(LiveGate(True, "k", "s", CONFIRMATION))


def test_a_fill_keeps_its_id_across_a_restart_and_two_fills_never_share_one() -> None:
    """Fill ids name the order and its filled quantity, not a counter of the venue object: a
    counter starts again after a restart, so the first fill after it took the id of an earlier
    fill of the order and was refused by the store or dropped as a repeat (issue 22)."""
    fake = FakeBinance()
    om, venue = _manager(fake)
    cid = om.submit("BTCUSDT", Side.BUY, 0.01).client_order_id
    fake.exchange_orders[cid] = [
        _order(cid, "PARTIALLY_FILLED", 0.004, 36_500.0, fee=0.073),
        _order(cid, "FILLED", 0.01, 36_506.0, fee=0.1825),
    ]
    venue.poll()
    first = om.fill_log[0]
    # a second process (after a restart) reads the order from the venue again: its first
    # fill is a different fill (the whole 0.01) and must not take the first one's id
    fake2 = FakeBinance()
    om2, venue2 = _manager(fake2)
    assert om2.submit("BTCUSDT", Side.BUY, 0.01).client_order_id == cid
    fake2.exchange_orders[cid] = [_order(cid, "FILLED", 0.01, 36_506.0, fee=0.1825)]
    venue2.poll()
    assert om2.fill_log[0].fill_id != first.fill_id
    # the same report read by a third process is the same fill, with the same id
    fake3 = FakeBinance()
    om3, venue3 = _manager(fake3)
    om3.submit("BTCUSDT", Side.BUY, 0.01)
    fake3.exchange_orders[cid] = [_order(cid, "PARTIALLY_FILLED", 0.004, 36_500.0, fee=0.073)]
    venue3.poll()
    assert om3.fill_log[0].fill_id == first.fill_id


class RateLimited(RequestTimeout):
    """As in ccxt, a rate-limit answer is a kind of network error: it must be backed off, not
    taken for an unknown outcome."""


class Refused(Exception):
    pass


def test_rate_limit_backs_off_and_refusals_are_sorted_by_meaning() -> None:
    from quantum_trader.execution.ccxt_venue import VenueErrors
    from quantum_trader.execution.request_budget import RequestBudget

    fake = FakeBinance()
    now = [0.0]
    budget = RequestBudget(100, lambda: now[0], lambda s: now.__setitem__(0, now[0] + s))
    venue = CcxtVenue(
        fake,
        errors=VenueErrors((RequestTimeout,), (OrderNotFound,), (RateLimited,), (Refused,)),
        budget=budget,
    )
    answers: list[Exception] = [RateLimited("429"), RateLimited("429")]
    real = fake.fetch_balance

    def balance(params: dict[str, Any] | None = None) -> dict[str, Any]:
        if answers:
            raise answers.pop(0)
        return real(params)

    fake.fetch_balance = balance  # type: ignore[method-assign]
    assert venue.balance() == 973.5
    assert venue.rate_limited == 2 and now[0] == 3.0  # 1 s, then 2 s (no Retry-After here)
    om = OrderManager(
        venue,
        BINANCE_USDM,
        SimulatedClock(0),
        InProcessBus(SimulatedClock(0), "live"),
        "r",
        mark=lambda s: 36_500.0,
    )

    def refuse(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise Refused('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}')

    fake.create_order = refuse  # type: ignore[method-assign]
    order = om.submit("BTCUSDT", Side.BUY, 0.01)
    assert order.status is OrderStatus.REJECTED and "-2019" in order.reason
