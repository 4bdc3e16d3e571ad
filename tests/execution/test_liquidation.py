"""Acceptance: a leveraged position through a crash candle is liquidated at the documented
price (docs/execution.md, "Margin and liquidation") with the documented loss: the isolated
margin, exactly."""

from __future__ import annotations

import pytest

from quantum_trader.domain.margin import liquidation_price
from quantum_trader.domain.orders import OrderType, Side
from quantum_trader.portfolio.ledger import LedgerKind
from tests.execution.helpers import HOUR, make_desk


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_crash_candle_liquidates_at_documented_price_and_loss(side: Side) -> None:
    desk = make_desk(balance=10_000.0)
    desk.bar("BTCUSDT", 0, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    desk.orders.submit("BTCUSDT", side, 1.0, OrderType.MARKET, leverage=10)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_050.0, 29_950.0, 30_000.0)  # entry at this open
    state = desk.portfolio.state("BTCUSDT")
    assert state is not None and state.qty == (1.0 if side is Side.BUY else -1.0)
    margin = 30_000.0 / 10
    mmr = 0.004
    expected = 30_000 * (1 - 0.1) / (1 - mmr) if side is Side.BUY else 30_000 * 1.1 / (1 + mmr)
    assert state.liq_price == pytest.approx(expected, rel=1e-12)
    assert liquidation_price(state.qty, 30_000.0, margin, mmr) == pytest.approx(expected)
    wallet_before = desk.portfolio.wallet_balance
    if side is Side.BUY:  # a crash: the low goes far below the liquidation price
        desk.bar("BTCUSDT", 2 * HOUR, 29_900.0, 29_950.0, 24_000.0, 25_000.0)
    else:  # a squeeze
        desk.bar("BTCUSDT", 2 * HOUR, 30_100.0, 36_000.0, 30_050.0, 35_000.0)
    assert desk.portfolio.quantity("BTCUSDT") == 0.0
    assert desk.portfolio.liquidations == 1
    assert desk.portfolio.wallet_balance - wallet_before == pytest.approx(-margin, abs=1e-9)
    trade = desk.portfolio.pending_trades[-1]
    assert trade.exit_reason == "liquidation"
    assert trade.exit_price == pytest.approx(expected, rel=1e-12)
    assert trade.pnl == pytest.approx((1 if side is Side.BUY else -1) * (expected - 30_000.0))
    entry_fee = 30_000.0 * 0.0005
    assert trade.net_pnl == pytest.approx(-margin - entry_fee)
    kinds = [e.kind for e in desk.portfolio.ledger.entries[-2:]]
    assert kinds == [LedgerKind.REALIZED_PNL, LedgerKind.LIQUIDATION_FEE]
    assert desk.portfolio.margin_used == 0.0


def test_gap_through_bankruptcy_loses_only_the_margin() -> None:
    desk = make_desk(balance=10_000.0)
    desk.bar("BTCUSDT", 0, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    desk.orders.submit("BTCUSDT", Side.BUY, 1.0, OrderType.MARKET, leverage=20)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_050.0, 29_950.0, 30_000.0)
    wallet = desk.portfolio.wallet_balance
    desk.bar("BTCUSDT", 2 * HOUR, 25_000.0, 25_100.0, 24_000.0, 24_500.0)  # opens below bankruptcy
    assert desk.portfolio.wallet_balance - wallet == pytest.approx(-1_500.0)


def test_liquidation_can_be_switched_off() -> None:
    from quantum_trader.execution.simulated.exchange import ExchangeConfig

    desk = make_desk(balance=10_000.0, config=ExchangeConfig(liquidation=False))
    desk.bar("BTCUSDT", 0, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    desk.orders.submit("BTCUSDT", Side.BUY, 1.0, OrderType.MARKET, leverage=10)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_050.0, 29_950.0, 30_000.0)
    desk.bar("BTCUSDT", 2 * HOUR, 29_900.0, 29_950.0, 24_000.0, 25_000.0)
    assert desk.portfolio.quantity("BTCUSDT") == 1.0
    assert desk.portfolio.liquidations == 0
