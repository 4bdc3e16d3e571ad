"""VolatilityTargetSizer: notional = target × equity / volatility, the leverage cap, and the
fixed-fractional fallback when no volatility is known."""

from __future__ import annotations

import math

import pytest

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    SizingRequest,
    VolatilityTargetSizer,
)

INTENT = TradeIntent("BTCUSDT", 0, TradeAction.ENTRY, Side.SELL, 200.0, "T", "", 0.6, 204.0, 192.0)
POLICY = TradingPolicy()


def test_notional_is_inverse_to_volatility() -> None:
    sizer = VolatilityTargetSizer(0.004)
    quantities = [
        sizer.size(SizingRequest(INTENT, 10_000.0, POLICY, volatility=v)).quantity
        for v in (0.002, 0.004, 0.008)
    ]
    # 0.4 % of 10k = 40 per candle: notional 20k, 10k, 5k at 200 a unit
    assert quantities == pytest.approx([100.0, 50.0, 25.0])
    capped = sizer.size(SizingRequest(INTENT, 10_000.0, POLICY, 25_000.0, volatility=0.002))
    assert capped.quantity == pytest.approx(25.0) and "leverage" in capped.reason
    assert sizer.size(SizingRequest(INTENT, 0.0, POLICY, volatility=0.01)).quantity == 0.0


@pytest.mark.parametrize("volatility", [None, 0.0, -0.01, math.nan])
def test_no_volatility_falls_back_to_fixed_fractional(volatility: float | None) -> None:
    req = SizingRequest(INTENT, 10_000.0, POLICY, volatility=volatility)
    result = VolatilityTargetSizer().size(req)
    assert result.quantity == FixedFractionalSizer().size(req).quantity == 25.0
    assert result.sizer == "fixed_fractional" and "no volatility" in result.reason


def test_target_must_be_a_small_positive_fraction() -> None:
    for bad in (0.0, -0.1, 0.5):
        with pytest.raises(DomainValidationError):
            VolatilityTargetSizer(bad)
