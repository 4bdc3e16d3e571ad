from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.bus import subscribe_records, topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.events import RegimeChange, RegimeScope
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.regime import Regime, RegimeConfig, RegimeDetector
from tests.strategy.market_data import load_candles

SMALL = RegimeConfig(fast_span=5, slow_span=20, vol_span=5, vol_window=50, warmup=30, min_dwell=3)


def _candles(symbol: str, closes: list[float]) -> list[Candle]:
    out = []
    prev = closes[0]
    for k, c in enumerate(closes):
        hi, lo = max(prev, c) * 1.001, min(prev, c) * 0.999
        out.append(Candle(symbol, "1h", k * MS_PER_HOUR, prev, hi, lo, c, 1.0))
        prev = c
    return out


def _zigzag(n: int, drift: float, start: float = 100.0, seed: int = 1) -> list[float]:
    """A seeded random walk in log price with ``drift`` per candle and 0.4% noise."""
    steps = np.random.default_rng(seed).normal(drift, 0.004, n)
    return list(start * np.exp(np.cumsum(steps)))


def _mostly(readings: list[Regime | None]) -> Regime | None:
    return Counter(r for r in readings if r is not None).most_common(1)[0][0]


def test_trend_up_is_bull_and_down_is_bear_and_events_are_published() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    events: list[RegimeChange] = []
    subscribe_records(bus, topics.REGIME_CHANGED, events.append)
    registry = StatusRegistry(clock)
    det = RegimeDetector(SMALL, bus=bus, status=registry)
    ups = [det.update(c).regime for c in _candles("AAA", _zigzag(80, 0.003))]
    assert _mostly(ups) is Regime.BULL
    downs = [det.update(c).regime for c in _candles("BBB", _zigzag(80, -0.003, seed=2))]
    assert _mostly(downs) is Regime.BEAR
    scopes = Counter(e.scope for e in events)
    assert scopes[RegimeScope.SYMBOL] >= 2 and scopes[RegimeScope.MARKET] >= 1
    assert [e for e in events if e.scope is RegimeScope.MARKET][-1].regime is det.market_regime
    assert det.market_regime in {Regime.BULL, Regime.BEAR}
    counters = registry.get("regime_detector").status.counters
    assert counters["updates"] == 160 and counters["changes"] == scopes[RegimeScope.SYMBOL]


def test_no_regime_before_warmup_and_time_must_advance() -> None:
    det = RegimeDetector(SMALL)
    candles = _candles("AAA", _zigzag(40, 0.001))
    readings = [det.update(c) for c in candles]
    assert all(r.regime is None for r in readings[: SMALL.warmup - 1])
    assert readings[-1].regime is not None
    with pytest.raises(DataError, match="not after"):
        det.update(candles[5])


def test_volatility_spike_is_volatile() -> None:
    det = RegimeDetector(SMALL)
    closes = _zigzag(60, 0.0) + [100 * (1 + 0.05 * (-1) ** k) for k in range(10)]  # spike
    regimes = [det.update(c).regime for c in _candles("AAA", closes)]
    assert Regime.VOLATILE in regimes[60:]


def test_market_regime_is_weighted_plurality() -> None:
    cfg = RegimeConfig(
        fast_span=5,
        slow_span=20,
        vol_span=5,
        vol_window=50,
        warmup=30,
        min_dwell=3,
        market_weights={"BTCUSDT": 3.0},
    )
    det = RegimeDetector(cfg)
    up = _candles("BTCUSDT", _zigzag(80, 0.003))
    down_a = _candles("AAA", _zigzag(80, -0.003, seed=2))
    down_b = _candles("BBB", _zigzag(80, -0.003, seed=3))
    market: list[Regime | None] = []
    for a, b, c in zip(up, down_a, down_b, strict=True):
        det.update(a)
        det.update(b)
        det.update(c)
        if det.regimes() == {"BTCUSDT": Regime.BULL, "AAA": Regime.BEAR, "BBB": Regime.BEAR}:
            market.append(det.market_regime)
    assert market, "the three symbols never showed their trends at once"
    assert set(market) == {Regime.BULL}  # weight 3 beats 1 + 1


@pytest.mark.data
def test_btc_2021_bull_vs_2022_bear_on_real_data(data_dir: Path) -> None:
    """Plausible shares on BTCUSDT-1h: more BULL than BEAR in 2021, the reverse in 2022."""
    candles = load_candles(data_dir, "BTCUSDT", "1h", "2020-11-01", "2023-01-01")
    year_ms = {
        2021: (1_609_459_200_000, 1_640_995_200_000),
        2022: (1_640_995_200_000, 1_672_531_200_000),
    }

    def run(cfg: RegimeConfig) -> tuple[dict[int, Counter[Regime | None]], int]:
        det = RegimeDetector(cfg)
        shares: dict[int, Counter[Regime | None]] = {2021: Counter(), 2022: Counter()}
        changes = 0
        for c in candles:
            r = det.update(c)
            for y, (a, b) in year_ms.items():
                if a <= c.open_time < b:
                    shares[y][r.regime] += 1
                    changes += r.changed
        return shares, changes

    shares, changes = run(RegimeConfig())
    assert shares[2021][Regime.BULL] > 1.3 * shares[2021][Regime.BEAR]
    assert shares[2022][Regime.BEAR] > 1.3 * shares[2022][Regime.BULL]
    for y in (2021, 2022):
        assert all(shares[y][r] > 0.05 * 8760 for r in Regime), shares[y]
    assert changes < 2 * 365  # hysteresis: well under one change a day per year
    _, flappy_changes = run(RegimeConfig(trend_exit=0.49, volatile_exit=0.89, min_dwell=0))
    assert changes < 0.75 * flappy_changes  # measured: 239 vs 382 changes over two years
