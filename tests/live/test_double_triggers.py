"""The exchange double triggers conditional orders as Binance's algo service does
(``tests/exchange_double/conditional.py``): the direction of each type, the market order a
triggered one becomes, reduce-only honoured, and what the endpoints the venue reads show."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import TAKER_FEE, VenueError, VenueOrder


def _now() -> int:
    return int(time.time() * 1000)


def _market(double: ExchangeDouble, symbol: str, side: str, qty: float) -> None:
    with double.book.lock:
        double.book.create(
            symbol=symbol,
            side=side,
            type="MARKET",
            quantity=qty,
            price=0.0,
            reduce_only=False,
            client_order_id=f"entry-{side}-{len(double.book.orders)}",
            now_ms=_now(),
        )


def _conditional(
    double: ExchangeDouble, type: str, side: str, qty: float, trigger: float, cid: str
) -> VenueOrder:
    with double.book.lock:
        return double.book.create(
            symbol="BTCUSDT",
            side=side,
            type=type,
            quantity=qty,
            price=0.0,
            reduce_only=True,
            client_order_id=cid,
            now_ms=_now(),
            stop_price=trigger,
            algo=True,
        )


def _get(double: ExchangeDouble, path: str, **params: Any) -> Any:
    status, body, _ = double.answer("GET", path, {k: str(v) for k, v in params.items()})
    assert status == 200, body
    return body


def _position(double: ExchangeDouble) -> float:
    return double.book.positions["BTCUSDT"].amount


def test_a_longs_stop_triggers_when_the_price_falls_to_it(double: ExchangeDouble) -> None:
    _market(double, "BTCUSDT", "BUY", 0.004)
    stop = _conditional(double, "STOP_MARKET", "SELL", 0.004, 49_000.0, "sl-1")
    double.book.set_mark("BTCUSDT", 49_000.1)
    assert stop.status == "NEW" and _position(double) == pytest.approx(0.004)
    double.book.set_mark("BTCUSDT", 48_950.0)  # through the stop: fills at the price reached
    assert _position(double) == 0.0
    shown = _get(double, "/fapi/v1/algoOrder", algoId=stop.order_id)
    actual = shown["actualOrderId"]
    assert (shown["algoStatus"], shown["executedQty"], shown["avgPrice"]) == (
        "FINISHED",
        "0.004",
        "48950.0",
    )
    assert _get(double, "/fapi/v1/openAlgoOrders", symbol="BTCUSDT") == []
    # the order it became: a filled reduce-only market order under the stop's client id
    order = _get(double, "/fapi/v1/order", symbol="BTCUSDT", orderId=actual)
    assert (order["type"], order["status"], order["clientOrderId"], order["reduceOnly"]) == (
        "MARKET",
        "FILLED",
        "sl-1",
        True,
    )
    (trade,) = _get(double, "/fapi/v1/userTrades", symbol="BTCUSDT", orderId=actual)
    assert (trade["side"], float(trade["qty"]), float(trade["price"])) == ("SELL", 0.004, 48_950.0)
    assert float(trade["commission"]) == pytest.approx(0.004 * 48_950.0 * TAKER_FEE)
    assert float(trade["realizedPnl"]) == pytest.approx(0.004 * (48_950.0 - 50_000.0))
    # a triggered order cannot be cancelled any more
    status, body, _ = double.answer("DELETE", "/fapi/v1/algoOrder", {"algoId": str(stop.order_id)})
    assert (status, body["code"]) == (400, -2011)


def test_a_shorts_stop_triggers_when_the_price_rises_to_it(double: ExchangeDouble) -> None:
    _market(double, "BTCUSDT", "SELL", 0.01)
    stop = _conditional(double, "STOP_MARKET", "BUY", 0.01, 51_000.0, "sl-2")
    double.book.set_mark("BTCUSDT", 48_000.0)  # away from it: nothing
    assert stop.status == "NEW"
    double.book.set_mark("BTCUSDT", 51_000.0)
    assert double.book.algo_status(stop) == "FINISHED" and _position(double) == 0.0


def test_a_take_profit_triggers_the_other_way(double: ExchangeDouble) -> None:
    _market(double, "BTCUSDT", "BUY", 0.004)
    take = _conditional(double, "TAKE_PROFIT_MARKET", "SELL", 0.004, 52_000.0, "tp-1")
    double.book.set_mark("BTCUSDT", 45_000.0)  # a fall does not take profit
    assert take.status == "NEW" and _position(double) == pytest.approx(0.004)
    double.book.set_mark("BTCUSDT", 52_500.0)
    assert double.book.algo_status(take) == "FINISHED" and _position(double) == 0.0
    actual = double.book.actual_order(take)
    assert actual is not None and actual.average == 52_500.0


def test_reduce_only_never_flips_a_position(double: ExchangeDouble) -> None:
    """Stop and take-profit both cover a long: the take-profit closes it; the stop, reached
    later, finds nothing to reduce and expires without an order. A stop larger than what is
    left closes only the rest."""
    _market(double, "BTCUSDT", "BUY", 0.004)
    stop = _conditional(double, "STOP_MARKET", "SELL", 0.004, 49_000.0, "sl-3")
    take = _conditional(double, "TAKE_PROFIT_MARKET", "SELL", 0.004, 51_000.0, "tp-3")
    double.book.set_mark("BTCUSDT", 51_000.0)
    assert double.book.algo_status(take) == "FINISHED"
    orders = len(double.book.orders)
    double.book.set_mark("BTCUSDT", 48_000.0)
    assert stop.status == "EXPIRED" and stop.actual_order_id == 0
    assert len(double.book.orders) == orders and _position(double) == 0.0
    shown = _get(double, "/fapi/v1/algoOrder", clientAlgoId="sl-3")
    assert (shown["algoStatus"], shown["actualOrderId"]) == ("EXPIRED", "")
    _market(double, "BTCUSDT", "BUY", 0.002)
    bigger = _conditional(double, "STOP_MARKET", "SELL", 0.005, 47_000.0, "sl-4")
    double.book.set_mark("BTCUSDT", 46_000.0)
    actual = double.book.actual_order(bigger)
    assert actual is not None and actual.filled == pytest.approx(0.002)
    assert _position(double) == 0.0


def test_an_order_the_price_has_reached_is_refused(double: ExchangeDouble) -> None:
    _market(double, "BTCUSDT", "BUY", 0.004)
    with pytest.raises(VenueError) as refused:
        _conditional(double, "STOP_MARKET", "SELL", 0.004, 50_000.0, "sl-5")
    assert refused.value.code == -2021
    with pytest.raises(VenueError) as refused:
        _conditional(double, "TAKE_PROFIT_MARKET", "SELL", 0.004, 49_000.0, "tp-5")
    assert refused.value.code == -2021
    assert not double.book.algo_orders


def test_a_held_back_fill_leaves_the_stop_triggered_until_released(double: ExchangeDouble) -> None:
    _market(double, "BTCUSDT", "BUY", 0.004)
    stop = _conditional(double, "STOP_MARKET", "SELL", 0.004, 49_000.0, "sl-6")
    double.book.delay_fills = True
    double.book.set_mark("BTCUSDT", 48_000.0)
    shown = _get(double, "/fapi/v1/algoOrder", algoId=stop.order_id)
    assert (shown["algoStatus"], shown["executedQty"]) == ("TRIGGERED", "0.0")
    assert _position(double) == pytest.approx(0.004)
    double.book.delay_fills = False
    assert double.book.release() == 1
    assert double.book.algo_status(stop) == "FINISHED" and _position(double) == 0.0


def test_a_resting_reduce_only_limit_never_opens_a_position(double: ExchangeDouble) -> None:
    """A take-profit limit left resting after its position closed expires when the price
    reaches it; one larger than the position closes only what is left, the rest expired."""
    _market(double, "BTCUSDT", "BUY", 0.004)
    with double.book.lock:
        target = double.book.create(
            symbol="BTCUSDT",
            side="SELL",
            type="LIMIT",
            quantity=0.004,
            price=51_000.0,
            reduce_only=True,
            client_order_id="tp-limit",
            now_ms=_now(),
        )
    _market(double, "BTCUSDT", "SELL", 0.003)  # closed by hand, all but 0.001
    double.book.set_mark("BTCUSDT", 51_500.0)
    assert (target.status, target.filled) == ("EXPIRED", pytest.approx(0.001))
    assert _position(double) == 0.0
    _market(double, "BTCUSDT", "BUY", 0.002)
    with double.book.lock:
        late = double.book.create(
            symbol="BTCUSDT",
            side="SELL",
            type="LIMIT",
            quantity=0.002,
            price=52_000.0,
            reduce_only=True,
            client_order_id="tp-late",
            now_ms=_now(),
        )
    _market(double, "BTCUSDT", "SELL", 0.002)  # flat before the price gets there
    double.book.set_mark("BTCUSDT", 52_100.0)
    assert (late.status, late.filled, _position(double)) == ("EXPIRED", 0.0, 0.0)
