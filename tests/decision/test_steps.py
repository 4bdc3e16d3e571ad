"""An approved quantity reaches the venue on its step (a risk trim lands anywhere)."""

from __future__ import annotations

import pytest

from quantum_trader.decision.pipeline import on_steps
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.execution.instruments import SymbolSpec

BTC = SymbolSpec("BTCUSDT", tick_size=0.1, step_size=0.001, min_notional=100.0)


def _intent(quantity: float) -> OrderIntent:
    return OrderIntent("BTCUSDT", Side.BUY, quantity, stop_loss=58_000.0, leverage=2.0)


def test_a_trimmed_quantity_is_floored_to_the_step() -> None:
    # what risk_per_trade trims to: a budget divided by a stop distance
    trimmed = _intent(250.0 / 1_234.5)
    stepped = on_steps(trimmed, BTC)
    assert stepped is not None
    assert stepped.quantity == pytest.approx(0.202) and BTC.on_step(stepped.quantity)
    assert stepped.quantity <= trimmed.quantity  # never more than the risk engine allowed
    assert (stepped.side, stepped.stop_loss, stepped.leverage) == (Side.BUY, 58_000.0, 2.0)


def test_a_quantity_on_the_step_is_sent_as_it_is() -> None:
    intent = _intent(0.25)
    assert on_steps(intent, BTC) is intent


def test_a_trim_below_one_step_sends_nothing() -> None:
    assert on_steps(_intent(0.000_7), BTC) is None
