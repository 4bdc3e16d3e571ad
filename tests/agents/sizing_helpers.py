"""Builders shared by the RL sizer's tests: entry requests with their selection context, and a
real (hand-built, linear softmax) ONNX sizing policy over the sizer's observation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_SIZE
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.risk import TradingState
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import SelectionContext
from quantum_trader.strategy.sizing import SizingRequest
from tests.agents.bundles import store_linear_bundle


def entry(
    price: float = 100.0,
    *,
    side: Side = Side.BUY,
    stop: float = 0.02,
    strategy: str = "TrendFollowing",
    symbol: str = "BTCUSDT",
    time: int = 0,
) -> TradeIntent:
    sign = side.sign
    return TradeIntent(symbol, time, TradeAction.ENTRY, side, price, strategy, "test", 0.6,
                       price * (1 - sign * stop), price * (1 + 2 * sign * stop))  # fmt: skip


def request(
    intent: TradeIntent | None = None,
    *,
    state: TradingState = TradingState.ACTIVE,
    regime: Regime | None = Regime.BULL,
    equity: float = 10_000.0,
    policy: TradingPolicy | None = None,
    gross: float = 0.0,
) -> SizingRequest:
    intent = intent or entry()
    ctx = SelectionContext(intent.symbol, intent.time, regime, None, 0.5, 0.3, 0.0,
                           RiskMode.MODERATE, state, equity=equity)  # fmt: skip
    return SizingRequest(intent, equity, policy or TradingPolicy(), gross, ctx)


def sizing_policy(folder: Path, seed: int, *, version: int | None = 1) -> OnnxPolicy:
    """A linear softmax policy over the sizing observation, of seeded random weights."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=2.0, size=(SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS)))
    bias = rng.normal(size=len(FRACTION_ACTIONS))
    store, digest = store_linear_bundle(folder, weights.astype(np.float32),
                                        bias.astype(np.float32), actions=FRACTION_ACTIONS)  # fmt: skip
    return OnnxPolicy(load_bundle(store, digest), registry_version=version)


def favouring(folder: Path, level: int) -> OnnxPolicy:
    """A policy that always chooses fraction level ``level`` (a bias far above the others)."""
    weights = np.zeros((SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS)), dtype=np.float32)
    bias = np.zeros(len(FRACTION_ACTIONS), dtype=np.float32)
    bias[level] = 20.0
    store, digest = store_linear_bundle(folder, weights, bias, actions=FRACTION_ACTIONS)
    return OnnxPolicy(load_bundle(store, digest))
