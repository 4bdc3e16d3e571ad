import math

import pytest

from quantum_trader.domain import (
    Candle,
    DomainValidationError,
    FundingRate,
    InvalidTransitionError,
    ModelVote,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Trade,
    TradingPolicy,
)


def candle(**kw: float) -> Candle:
    base = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}
    base.update(kw)
    return Candle("BTCUSDT", "1h", 0, **base)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("close", math.nan, "Candle.close=nan: must be a finite number"),
        ("open", 0.0, "Candle.open=0.0: must be > 0"),
        ("low", -1.0, "Candle.low=-1.0: must be > 0"),
        ("volume", -2.0, "Candle.volume=-2.0: must be >= 0"),
        ("high", 8.0, "Candle.high=8.0: must be >= low (9.0)"),
        ("high", 10.2, "Candle.high=10.2: must be >= open and close"),
        ("low", 10.4, "Candle.low=10.4: must be <= open and close"),
    ],
)
def test_bad_candles_name_field_and_value(field: str, value: float, words: str) -> None:
    with pytest.raises(DomainValidationError) as err:
        candle(**{field: value})
    assert words in str(err.value)
    assert err.value.field == field


def test_candle_close_time_and_unknown_timeframe() -> None:
    assert candle().close_time == 3_600_000
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        Candle("BTCUSDT", "7m", 0, 1, 1, 1, 1, 1)


def test_funding_rate_refuses_percent_units() -> None:
    assert FundingRate("BTCUSDT", 0, 0.0001).rate == 0.0001
    with pytest.raises(DomainValidationError, match=r"rate=1\.0"):
        FundingRate("BTCUSDT", 0, 1.0)


@pytest.mark.parametrize("qty", [0.0, -1.0, math.nan])
def test_intent_size_must_be_positive(qty: float) -> None:
    with pytest.raises(DomainValidationError, match=r"OrderIntent\.quantity"):
        OrderIntent("BTCUSDT", Side.BUY, qty)


def test_limit_and_stop_orders_need_prices() -> None:
    with pytest.raises(DomainValidationError, match="LIMIT order needs a price"):
        OrderIntent("BTCUSDT", Side.BUY, 1.0, OrderType.LIMIT)
    with pytest.raises(DomainValidationError, match="STOP_MARKET order needs a stop price"):
        OrderIntent("BTCUSDT", Side.SELL, 1.0, OrderType.STOP_MARKET)


def new_order(qty: float = 2.0) -> Order:
    return Order("run-BTCUSDT-1", "BTCUSDT", Side.BUY, OrderType.MARKET, qty, created_at=0)


def test_order_fills_partially_then_fully_with_average_price() -> None:
    order = new_order().apply_fill(1.0, 100.0, at=1)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order = order.apply_fill(1.0, 110.0, at=2)
    assert order.status is OrderStatus.FILLED
    assert order.average_price == pytest.approx(105.0)
    assert order.remaining == 0


def test_order_state_machine_refuses_illegal_moves() -> None:
    filled = new_order().apply_fill(2.0, 100.0, at=1)
    with pytest.raises(InvalidTransitionError, match="FILLED → CANCELED"):
        filled.transition(OrderStatus.CANCELED, at=2)
    partial = new_order().apply_fill(1.0, 100.0, at=1)
    with pytest.raises(InvalidTransitionError, match="PARTIALLY_FILLED → REJECTED"):
        partial.transition(OrderStatus.REJECTED, at=2)
    assert partial.transition(OrderStatus.CANCELED, at=2).status is OrderStatus.CANCELED


def test_overfill_is_refused() -> None:
    with pytest.raises(DomainValidationError, match="exceeds remaining"):
        new_order().apply_fill(3.0, 100.0, at=1)


def test_position_pnl_and_side() -> None:
    short = Position("ETHUSDT", quantity=-2.0, entry_price=100.0)
    assert short.side is Side.SELL
    assert short.unrealized_pnl(90.0) == pytest.approx(20.0)
    with pytest.raises(DomainValidationError, match="entry_price"):
        Position("ETHUSDT", quantity=1.0, entry_price=0.0)


def test_trade_net_pnl_and_time_order() -> None:
    trade = Trade(
        "t1", "BTCUSDT", Side.BUY, 1.0, 100.0, 110.0, 0, 10, pnl=10.0, fees=1.0, funding=0.5
    )
    assert trade.net_pnl == pytest.approx(8.5)
    with pytest.raises(DomainValidationError, match="exit_time"):
        Trade("t2", "BTCUSDT", Side.BUY, 1.0, 100.0, 110.0, 10, 0, pnl=10.0)


def test_vote_probabilities_must_sum_to_one() -> None:
    assert ModelVote("xgb", 0.2, 0.3, 0.5).direction.value == "UP"
    with pytest.raises(DomainValidationError, match="must sum to 1"):
        ModelVote("xgb", 0.2, 0.3, 0.6)


@pytest.mark.parametrize(
    ("probs", "weight", "field"),
    [
        ((math.nan, 0.5, 0.5), 1.0, "p_down"),
        ((0.5, math.inf, 0.5), 1.0, "p_flat"),
        ((0.5, 0.6, -0.1), 1.0, "p_up"),
        ((0.2, 0.3, 0.5), -0.5, "weight"),
        ((0.2, 0.3, 0.5), math.nan, "weight"),
        ((0.2, 0.3, 0.5), math.inf, "weight"),
    ],
)
def test_bad_votes_name_the_field(
    probs: tuple[float, float, float], weight: float, field: str
) -> None:
    with pytest.raises(DomainValidationError, match=field):
        ModelVote("xgb", *probs, weight=weight)


@pytest.mark.parametrize(
    ("probs", "direction"),
    [((0.4, 0.4, 0.2), "DOWN"), ((0.2, 0.4, 0.4), "FLAT"), ((0.4, 0.2, 0.4), "DOWN")],
)
def test_vote_direction_ties_go_to_the_first_class(
    probs: tuple[float, float, float], direction: str
) -> None:
    assert ModelVote("xgb", *probs).direction.value == direction


def test_policy_limits_validated() -> None:
    with pytest.raises(DomainValidationError, match=r"risk_per_trade=0\.5"):
        TradingPolicy(risk_per_trade=0.5)
