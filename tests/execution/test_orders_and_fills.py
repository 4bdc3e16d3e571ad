"""Fill rules, the order state machine, idempotency and rejections of bad orders."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.bus import topics
from quantum_trader.domain.errors import OrderRejectedError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.execution.order_manager import Bracket
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.store import CheckpointBatch
from tests.execution.helpers import HOUR, make_desk


def _warm(desk, price: float = 30_000.0) -> None:  # type: ignore[no-untyped-def]
    desk.bar("BTCUSDT", 0, price, price + 10, price - 10, price)


def test_market_order_fills_at_next_open_with_taker_fee() -> None:
    desk = make_desk()
    _warm(desk)
    order = desk.orders.submit("BTCUSDT", Side.BUY, 0.5)
    assert order.status is OrderStatus.NEW
    assert order.client_order_id == "t-BTCUSDT-1"
    desk.bar("BTCUSDT", HOUR, 30_100.0, 30_200.0, 30_000.0, 30_150.0)
    filled = desk.orders.get(order.client_order_id)
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.average_price == 30_100.0
    fill = desk.orders.fill_log[0]
    assert fill.time == HOUR and not fill.is_maker
    assert fill.fee == pytest.approx(0.5 * 30_100.0 * 0.0005)
    assert desk.portfolio.unrealized_pnl == pytest.approx(0.5 * 50.0)
    assert desk.portfolio.equity == pytest.approx(100_000 - fill.fee + 25.0)


def test_slippage_moves_taker_fills_against_the_order_on_the_tick_grid() -> None:
    desk = make_desk(config=ExchangeConfig(slippage_bps=10))
    _warm(desk)
    desk.orders.submit("BTCUSDT", Side.SELL, 0.5)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    assert desk.orders.fill_log[0].price == 29_970.0


def test_stop_loss_and_take_profit_in_one_candle_take_the_worse_outcome() -> None:
    desk = make_desk()
    _warm(desk)
    desk.orders.submit(
        "BTCUSDT", Side.BUY, 1.0, bracket=Bracket(stop_loss=29_500.0, take_profit=30_500.0)
    )
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)  # entry; brackets placed
    assert len(desk.exchange.open_orders("BTCUSDT")) == 2
    desk.bar("BTCUSDT", 2 * HOUR, 30_000.0, 30_600.0, 29_400.0, 30_000.0)  # both touched
    trade = desk.portfolio.pending_trades[-1]
    assert trade.exit_price == 29_500.0 and trade.exit_reason == "stop"
    assert desk.exchange.open_orders("BTCUSDT") == []
    statuses = sorted(o.status.value for o in desk.orders.orders.values())
    assert statuses == ["CANCELED", "FILLED", "FILLED"]


def test_resting_limit_fills_at_its_price_as_maker() -> None:
    desk = make_desk()
    _warm(desk)
    desk.orders.submit("BTCUSDT", Side.BUY, 1.0, OrderType.LIMIT, price=29_800.0)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)  # not reached
    assert desk.orders.fill_log == []
    desk.bar("BTCUSDT", 2 * HOUR, 29_700.0, 29_750.0, 29_600.0, 29_650.0)  # gaps through
    fill = desk.orders.fill_log[0]
    assert fill.price == 29_800.0 and fill.is_maker
    assert fill.fee == pytest.approx(29_800.0 * 0.0002)


def test_marketable_limit_on_arrival_fills_at_open_as_taker() -> None:
    desk = make_desk()
    _warm(desk)
    desk.orders.submit("BTCUSDT", Side.BUY, 1.0, OrderType.LIMIT, price=30_500.0)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    fill = desk.orders.fill_log[0]
    assert fill.price == 30_000.0 and not fill.is_maker


def test_reduce_only_never_opens_and_is_clipped() -> None:
    desk = make_desk()
    _warm(desk)
    flat = desk.orders.submit("BTCUSDT", Side.SELL, 1.0, reduce_only=True)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    assert desk.orders.get(flat.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    desk.orders.submit("BTCUSDT", Side.BUY, 0.3)
    desk.bar("BTCUSDT", 2 * HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    big = desk.orders.submit("BTCUSDT", Side.SELL, 1.0, reduce_only=True)
    desk.bar("BTCUSDT", 3 * HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    done = desk.orders.get(big.client_order_id)
    assert done is not None and done.filled_quantity == pytest.approx(0.3)
    assert done.status is OrderStatus.CANCELED
    assert desk.portfolio.quantity("BTCUSDT") == 0.0


def test_stop_market_triggers_and_gaps_fill_at_open() -> None:
    desk = make_desk()
    _warm(desk)
    desk.orders.submit("BTCUSDT", Side.BUY, 1.0, OrderType.STOP_MARKET, stop_price=30_300.0)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_250.0, 29_900.0, 30_000.0)
    assert desk.orders.fill_log == []
    desk.bar("BTCUSDT", 2 * HOUR, 30_400.0, 30_500.0, 30_350.0, 30_450.0)
    assert desk.orders.fill_log[0].price == 30_400.0


def test_known_client_order_id_never_creates_a_second_order() -> None:
    desk = make_desk()
    _warm(desk)
    first = desk.orders.submit("BTCUSDT", Side.BUY, 0.5, client_order_id="mine-1")
    again = desk.orders.submit("BTCUSDT", Side.BUY, 0.9, client_order_id="mine-1")
    assert again == first
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    assert len(desk.orders.fill_log) == 1
    assert desk.portfolio.quantity("BTCUSDT") == 0.5
    submitted = [e for e in desk.events if e.type == topics.ORDER_SUBMITTED.name]
    assert len(submitted) == 1


def test_good_till_expires_an_unfilled_order() -> None:
    desk = make_desk()
    _warm(desk)
    order = desk.orders.submit(
        "BTCUSDT", Side.BUY, 1.0, OrderType.LIMIT, price=20_000.0, good_till=2 * HOUR
    )
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    assert desk.orders.get(order.client_order_id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"symbol": "DOGEUSDT"}, "unknown symbol"),
        ({"leverage": 200.0}, "leverage 200.0 outside"),
        ({"order_type": OrderType.LIMIT, "price": 30_000.05}, "off the tick grid"),
        ({"quantity": 0.001}, "below the minimum 100.0"),
        ({"quantity": 0.0005}, "step size"),
    ],
)
def test_bad_orders_are_rejected_with_a_reason_and_never_fill(
    kwargs: dict[str, object], reason: str
) -> None:
    desk = make_desk()
    _warm(desk)
    args: dict[str, object] = {"symbol": "BTCUSDT", "side": Side.BUY, "quantity": 0.5} | kwargs
    order = desk.orders.submit(**args)  # type: ignore[arg-type]
    assert order.status is OrderStatus.REJECTED
    assert reason in order.reason
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    assert desk.orders.fill_log == []
    assert desk.orders.pending_fills == []
    assert desk.orders.pending_orders[order.client_order_id].status is OrderStatus.REJECTED


@pytest.mark.parametrize("quantity", [0.0, -1.0, math.nan])
def test_non_positive_size_raises_with_a_reason(quantity: float) -> None:
    desk = make_desk()
    with pytest.raises(OrderRejectedError, match="quantity must be a positive number"):
        desk.orders.submit("BTCUSDT", Side.BUY, quantity)
    assert desk.orders.orders == {}


def test_insufficient_margin_is_rejected() -> None:
    desk = make_desk(balance=1_000.0)
    _warm(desk)
    order = desk.orders.submit("BTCUSDT", Side.BUY, 1.0, leverage=2)
    assert order.status is OrderStatus.REJECTED and "insufficient margin" in order.reason


def test_trade_closed_event_is_published_with_the_trade() -> None:
    desk = make_desk()
    _warm(desk)
    desk.orders.submit("BTCUSDT", Side.BUY, 0.5)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_000.0)
    desk.orders.submit("BTCUSDT", Side.SELL, 0.5)
    desk.bar("BTCUSDT", 2 * HOUR, 31_000.0, 31_100.0, 30_900.0, 31_000.0)
    closed = [e for e in desk.events if e.type == topics.TRADE_CLOSED.name]
    [trade] = [topics.TRADE_CLOSED.decode(e.payload) for e in closed]
    assert trade.pnl == pytest.approx(500.0)
    assert trade.entry_time == HOUR and trade.exit_time == 2 * HOUR


@pytest.mark.parametrize(
    ("quantity", "fills"), [(1.0, [1.0]), (1.0, [0.4, 0.6]), (0.3, [0.1, 0.1, 0.1]), (2.0, [0.5])]
)
def test_fast_filled_order_equals_domain_apply_fill(quantity: float, fills: list[float]) -> None:
    from quantum_trader.domain.orders import Order, filled_order

    fast = slow = Order("c-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, quantity, 0, price=10.0)
    for i, q in enumerate(fills, start=1):
        fast = filled_order(fast, q, 10.0 + i, i)
        slow = slow.apply_fill(q, 10.0 + i, i)
        assert fast == slow
    with pytest.raises(Exception, match="exceeds remaining"):
        filled_order(fast, quantity * 2, 10.0, 9)


def test_fast_path_payloads_are_what_the_topic_codecs_encode() -> None:
    """The execution events are published as values in their topic's key order (the fast path);
    they must be, key for key and value for value (types included: the event log hashes
    them), what the topic's codec encodes for the record, and decode back to it."""
    from dataclasses import replace

    from quantum_trader.domain.canonical import canonical_bytes
    from quantum_trader.domain.events import OrderFilled
    from quantum_trader.domain.orders import Fill, Order, OrderStatus
    from quantum_trader.domain.positions import Trade
    from quantum_trader.execution.events import (
        FILL_EVENT_KEYS,
        ORDER_KEYS,
        TRADE_KEYS,
        fill_event_values,
        order_values,
        trade_values,
    )

    order = Order("c-1", "BTCUSDT", Side.SELL, OrderType.LIMIT, 2.0, 5, price=10.5, reason="x")
    filled = replace(order, status=OrderStatus.FILLED, filled_quantity=2.0, average_price=10.5)
    fill = Fill("c-1-F1", "c-1", "BTCUSDT", Side.SELL, 2.0, 10.5, 0.0042, 7, is_maker=True)
    trade = Trade("t-1", "BTCUSDT", Side.BUY, 2.0, 10.0, 10.5, 1, 7, 1.0, 0.01, -0.002, "s", "tp")
    cases = [
        (topics.ORDER_SUBMITTED, ORDER_KEYS, order_values(order), order),
        (topics.ORDER_UPDATED, ORDER_KEYS, order_values(filled), filled),
        (
            topics.ORDER_FILLED,
            FILL_EVENT_KEYS,
            fill_event_values(fill, filled),
            OrderFilled.of(fill, filled),
        ),
        (topics.TRADE_CLOSED, TRADE_KEYS, trade_values(trade), trade),
    ]
    for topic, keys, values, record in cases:
        encoded = topic.encode(record)
        assert keys == topic.keys == tuple(encoded)
        assert canonical_bytes(values) == canonical_bytes(tuple(encoded.values())), topic.name
        assert topic.decode(dict(zip(keys, values, strict=True))) == record
    assert OrderFilled.of(fill, filled).fill == fill


def test_a_fill_heard_twice_is_journalled_and_published_once(tmp_path: Path) -> None:
    """A venue that reports a fill again (stream and poll, reconnect) must not journal it twice:
    the second row broke the checkpoint's insert (IntegrityError on ``exec_fills``), and the
    event and the bracket went out twice (issue 22)."""
    desk = make_desk()
    _warm(desk)
    order = desk.orders.submit("BTCUSDT", Side.BUY, 0.01, bracket=Bracket(stop_loss=29_000.0))
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    fill = desk.orders.fill_log[0]
    filled = desk.orders.get(order.client_order_id)
    assert filled is not None
    events = len(desk.events)
    desk.orders.on_fill(fill, filled)
    assert len(desk.events) == events  # no second fill event, no second stop-loss
    assert desk.orders.fills == 1 and desk.orders.duplicate_fills == 1
    orders, fills = desk.orders.drain()
    engine = open_database(f"sqlite:///{tmp_path / 'qt.sqlite'}")
    SqlExecutionStore(engine).commit(CheckpointBatch("t", 1, 0, False, "{}", orders, fills))
    # and after a restart from the checkpoint, the repeat is still known
    restarted = make_desk().orders
    restarted.restore(desk.orders.snapshot(), desk.orders.orders)
    restarted.on_fill(fill, filled)
    assert restarted.pending_fills == [] and restarted.duplicate_fills == 2
    engine.dispose()
