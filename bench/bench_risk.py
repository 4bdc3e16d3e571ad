"""Prints the cost of the pre-trade rules and of one regime update (figures on this machine)."""

from __future__ import annotations

import time

import numpy as np

from quantum_trader.domain.market import Candle
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.engine import run_rules
from quantum_trader.risk.state import TradingState
from quantum_trader.strategy.regime import RegimeDetector

NOW = 1_700_000_000_000


def bench_rules(n: int = 20_000) -> float:
    ctx = CheckContext(
        intent=OrderIntent("BTCUSDT", Side.BUY, 0.5, stop_loss=49_000.0),
        now=NOW,
        state=TradingState.ACTIVE,
        policy=TradingPolicy(),
        config=RiskConfig(),
        equity=10_000.0,
        peak_equity=10_500.0,
        daily_pnl=-50.0,
        positions={"ETHUSDT": 2.0, "SOLUSDT": -30.0},
        marks={"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 100.0},
        last_candle_close=NOW - 1_000,
        cooldown_until=None,
    )
    start = time.perf_counter()
    for _ in range(n):
        run_rules(ctx)
    return (time.perf_counter() - start) / n * 1e6


def bench_regime(n: int = 20_000) -> float:
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    candles = [
        Candle("BTCUSDT", "1h", k * MS_PER_HOUR, c, c * 1.002, c * 0.998, c, 1.0)
        for k, c in enumerate(closes)
    ]
    det = RegimeDetector()
    start = time.perf_counter()
    for c in candles:
        det.update(c)
    return (time.perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    print(f"risk rules (one trimmed intent, 14 rules): {bench_rules():.1f} µs per intent")
    print(f"regime detector update: {bench_regime():.1f} µs per candle")
