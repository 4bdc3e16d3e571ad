"""The selector's observation: its layout, scaling and refusals, which the served policy and
the training environment share."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from quantum_trader.agents.observation import (
    SELECTOR_OBSERVATION_FIELDS,
    SELECTOR_OBSERVATION_SIZE,
    SELECTOR_OBSERVATION_VERSION,
    selector_observation,
)
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import TradingState
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import SelectionContext

CTX = SelectionContext(
    "BTCUSDT",
    3_600_000,
    Regime.SIDEWAYS,
    Regime.BEAR,
    0.25,
    0.7,
    -200.0,
    RiskMode.AGGRESSIVE,
    equity=8_000.0,
    position=-1.5,
    drawdown=0.05,
    trading_state=TradingState.REDUCING,
)


def _fields(obs: np.ndarray) -> dict[str, float]:
    return dict(zip(SELECTOR_OBSERVATION_FIELDS, obs.tolist(), strict=True))


def test_every_field_lands_in_its_slot_scaled() -> None:
    obs = selector_observation(CTX)
    assert obs.dtype == np.float32 and obs.shape == (SELECTOR_OBSERVATION_SIZE,)
    assert len(set(SELECTOR_OBSERVATION_FIELDS)) == SELECTOR_OBSERVATION_SIZE == 22
    hot = {k for k, v in _fields(obs).items() if v == 1.0}
    assert hot == {
        "regime_sideways",
        "market_regime_bear",
        "risk_mode_aggressive",
        "trading_state_reducing",
    }
    f = _fields(obs)
    assert f["vol_percentile"] == 0.25 and f["confidence"] == pytest.approx(0.7)
    assert f["recent_pnl"] == pytest.approx(-200.0 / 8_000.0 * 10.0)
    assert f["position"] == pytest.approx(-0.5)  # -1.5x over the 3x scale
    assert f["drawdown"] == pytest.approx(0.2)  # 5 % over the 25 % scale


def test_no_regime_yet_and_extremes_are_clipped() -> None:
    ctx = dataclasses.replace(
        CTX, regime=None, market_regime=None, recent_pnl=-9e9, position=12.0, drawdown=0.9
    )
    f = _fields(selector_observation(ctx))
    assert f["regime_none"] == 1.0 and f["market_regime_none"] == 1.0
    assert (f["recent_pnl"], f["position"], f["drawdown"]) == (-1.0, 1.0, 1.0)
    # an account with no equity known reads no PnL rather than dividing by zero
    assert _fields(selector_observation(dataclasses.replace(CTX, equity=0.0)))["recent_pnl"] == 0


def test_a_non_finite_input_is_refused_naming_field_and_decision() -> None:
    with pytest.raises(ValueError, match=r"BTCUSDT@3600000: confidence=nan"):
        selector_observation(dataclasses.replace(CTX, confidence=float("nan")))


def test_the_version_names_the_layout() -> None:
    # a change of the fields must come with a new version: bundles record it
    assert SELECTOR_OBSERVATION_VERSION == "sel-obs-1"
    assert SELECTOR_OBSERVATION_FIELDS[:5] == (
        "regime_bull",
        "regime_bear",
        "regime_sideways",
        "regime_volatile",
        "regime_none",
    )
