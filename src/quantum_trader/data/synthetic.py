"""A seeded synthetic market: regime switching, volatility clustering and jumps.

Used where real data is too short or too tame (stress tests, regime detectors, RL environments).
Every series is labelled: symbols carry the ``SYN`` prefix and the store records
``synthetic=True``, so a report built on it can never pass for a real-market result.

Model, per candle ``t`` (log returns):

* a market-wide regime ``s_t`` follows a Markov chain over BULL / BEAR / SIDEWAYS / VOLATILE
  (each regime persists with probability ``persistence``, else jumps to another uniformly);
* each symbol's conditional variance follows GARCH(1,1),
  ``h_t = ω + α·ε²_{t-1} + β·h_{t-1}``, scaled by the regime's volatility multiplier;
* ``r_t = μ(s_t) + φ(s_t)·(r_{t-1} - μ(s_{t-1})) + σ_t·(ρ·z_market + √(1-ρ²)·z_own) + J_t``
  with rare normal jumps ``J_t``; ``φ`` is the regime's momentum (0 in the default regimes): a
  planted, learnable signal whose sign a regime switch can flip, for tests of learning that
  must adapt (the last return excludes its jump, so one jump does not echo);
* the regime path is the Markov chain above, or a fixed ``schedule`` of (first candle, regime)
  pairs where a test needs a switch at a known candle;
* open = previous close; high/low stretch beyond max/min(open, close) by a half-normal draw of
  the candle's own volatility, so high ≥ max(open, close) ≥ min(open, close) ≥ low > 0;
* volume is log-normal and grows with the size of the move.

The same config and seed give bit-identical frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.data.symbols import synthetic_symbol
from quantum_trader.domain.time import timeframe_ms

#: the largest move, in its own volatility, that still raises the volume (see ``_candles``)
SURPRISE_CAP = 12.0


@dataclass(frozen=True, slots=True)
class RegimeSpec:
    name: str
    drift: float  # mean log return per candle
    vol_multiplier: float
    momentum: float = 0.0  # AR(1) coefficient of the return's deviation from the drift

    def __post_init__(self) -> None:
        if not -1.0 < self.momentum < 1.0:
            raise ValueError(f"RegimeSpec {self.name}: momentum={self.momentum} must be in (-1, 1)")


DEFAULT_REGIMES: tuple[RegimeSpec, ...] = (
    RegimeSpec("BULL", 0.0004, 0.9),
    RegimeSpec("BEAR", -0.0005, 1.2),
    RegimeSpec("SIDEWAYS", 0.0, 0.6),
    RegimeSpec("VOLATILE", 0.0, 2.2),
)


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    seed: int = 0
    candles: int = 2_000
    timeframe: str = "1h"
    start: int = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    regimes: tuple[RegimeSpec, ...] = DEFAULT_REGIMES
    persistence: float = 0.985  # chance a regime lasts another candle (mean run ≈ 67 candles)
    garch_omega: float = 2e-7
    garch_alpha: float = 0.08
    garch_beta: float = 0.9
    market_correlation: float = 0.6
    jump_probability: float = 0.002
    jump_scale: float = 0.03
    wick_scale: float = 0.5
    start_prices: tuple[float, ...] = (30_000.0, 2_000.0, 100.0, 1.0)
    base_volume: float = 1_000.0
    #: fixed regime path: (first candle, regime index) pairs, the first at candle 0; None: the
    #: Markov chain
    schedule: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        timeframe_ms(self.timeframe)
        if self.candles < 1:
            raise ValueError(f"candles={self.candles} must be >= 1")
        if not 0.0 <= self.persistence < 1.0:
            raise ValueError(f"persistence={self.persistence} must be in [0, 1)")
        if self.garch_alpha < 0 or self.garch_beta < 0 or self.garch_alpha + self.garch_beta >= 1:
            raise ValueError(
                f"garch_alpha={self.garch_alpha} + garch_beta={self.garch_beta} must be < 1 "
                "(stationary variance) and both >= 0"
            )
        if self.garch_omega <= 0:
            raise ValueError(f"garch_omega={self.garch_omega} must be > 0")
        if not 0.0 <= self.market_correlation <= 1.0:
            raise ValueError(f"market_correlation={self.market_correlation} must be in [0, 1]")
        if not 0.0 <= self.jump_probability <= 1.0:
            raise ValueError(f"jump_probability={self.jump_probability} must be in [0, 1]")
        if len(self.regimes) < 2:
            raise ValueError("at least two regimes are needed for regime switching")
        if self.schedule is not None:
            starts = [start for start, _ in self.schedule]
            if not starts or starts[0] != 0 or starts != sorted(set(starts)):
                raise ValueError(
                    f"schedule={self.schedule}: first candles must start at 0 and increase"
                )
            bad = [r for _, r in self.schedule if not 0 <= r < len(self.regimes)]
            if bad:
                raise ValueError(
                    f"schedule names regime indices {bad}; there are {len(self.regimes)} regimes"
                )


@dataclass(frozen=True, slots=True)
class SyntheticSeries:
    """One generated symbol: the candle frame and the regime index of each candle."""

    symbol: str
    frame: pd.DataFrame
    regimes: npt.NDArray[np.int64]
    regime_names: tuple[str, ...]
    synthetic: bool = True


def regime_path(config: SyntheticConfig, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The market-wide regime index per candle (a Markov chain, or the fixed schedule; the
    chain's draws are made either way, so a schedule leaves every other draw as it was)."""
    k = len(config.regimes)
    path = np.empty(config.candles, dtype=np.int64)
    state = int(rng.integers(k))
    switches = rng.random(config.candles) >= config.persistence
    hops = rng.integers(1, k, size=config.candles)  # offset to a *different* regime
    for t in range(config.candles):
        if switches[t]:
            state = (state + int(hops[t])) % k
        path[t] = state
    if config.schedule is not None:
        for start, regime in config.schedule:
            path[start:] = regime
    return path


def _returns(
    config: SyntheticConfig,
    regimes: npt.NDArray[np.int64],
    z_market: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Log returns and per-candle volatility of one symbol (GARCH(1,1) × regime, plus jumps)."""
    n = config.candles
    drift = np.array([r.drift for r in config.regimes])[regimes]
    mult = np.array([r.vol_multiplier for r in config.regimes])[regimes]
    rho = config.market_correlation
    z = rho * z_market + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
    jumps = np.where(
        rng.random(n) < config.jump_probability, rng.normal(0.0, config.jump_scale, n), 0.0
    )
    omega, alpha, beta = config.garch_omega, config.garch_alpha, config.garch_beta
    h = omega / (1.0 - alpha - beta)
    eps_prev = 0.0
    sigma = np.empty(n)
    for t in range(n):  # the recursion is sequential by nature
        h = omega + alpha * eps_prev * eps_prev + beta * h
        sigma[t] = np.sqrt(h) * mult[t]
        eps_prev = sigma[t] * z[t] / mult[t]
    shocks = sigma * z
    momentum = np.array([r.momentum for r in config.regimes])[regimes]
    if momentum.any():  # the default regimes skip this, and give what they always gave
        shocks = shocks.copy()
        for t in range(1, n):
            shocks[t] += momentum[t] * shocks[t - 1]
    return drift + shocks + jumps, sigma


def _candles(
    config: SyntheticConfig,
    start_price: float,
    log_ret: npt.NDArray[np.float64],
    sigma: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> pd.DataFrame:
    n = config.candles
    close = start_price * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([start_price], close[:-1]))
    wick_up = np.abs(rng.standard_normal(n)) * sigma * config.wick_scale
    wick_dn = np.abs(rng.standard_normal(n)) * sigma * config.wick_scale
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_dn)
    # a jump's surprise is capped in the volume: real 1h volumes stay within a few hundred times
    # their median (274x at most in the shared data), an uncapped exp of a 50-sigma jump is 1e8x
    surprise = np.minimum(np.abs(log_ret) / np.maximum(sigma, 1e-12), SURPRISE_CAP)
    volume = config.base_volume * np.exp(0.5 * rng.standard_normal(n) + 0.4 * surprise)
    step = timeframe_ms(config.timeframe)
    return pd.DataFrame(
        {
            "open_time": config.start + step * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


def generate_market(config: SyntheticConfig, names: Sequence[str]) -> list[SyntheticSeries]:
    """Generate one series per name (names get the ``SYN`` prefix) sharing one regime path.

    >>> a = generate_market(SyntheticConfig(seed=7, candles=50), ["BTCUSDT", "ETHUSDT"])
    >>> b = generate_market(SyntheticConfig(seed=7, candles=50), ["BTCUSDT", "ETHUSDT"])
    >>> [s.symbol for s in a], all(x.frame.equals(y.frame) for x, y in zip(a, b))
    (['SYNBTCUSDT', 'SYNETHUSDT'], True)
    """
    if not names:
        raise ValueError("give at least one symbol name")
    root = np.random.SeedSequence(config.seed)
    market_seq, *symbol_seqs = root.spawn(1 + len(names))
    market_rng = np.random.default_rng(market_seq)
    regimes = regime_path(config, market_rng)
    z_market = market_rng.standard_normal(config.candles)
    out = []
    for i, (name, seq) in enumerate(zip(names, symbol_seqs, strict=True)):
        rng = np.random.default_rng(seq)
        log_ret, sigma = _returns(config, regimes, z_market, rng)
        price = config.start_prices[i % len(config.start_prices)]
        frame = _candles(config, price, log_ret, sigma, rng)
        out.append(
            SyntheticSeries(
                symbol=synthetic_symbol(name),
                frame=frame,
                regimes=regimes.copy(),
                regime_names=tuple(r.name for r in config.regimes),
            )
        )
    return out
