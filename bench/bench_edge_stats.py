"""Cost and shape of the issue-24 building blocks on one symbol of the real data.

1. Triple-barrier labels (``features/triple_barrier.py``) on every BTCUSDT 1h candle, for a few
   barrier settings: wall time (best of REPEAT), class shares, which barrier decided, and how
   early the real end comes compared with the fixed horizon.
2. Purging by real end (``features/purging.py``) at a walk-forward boundary: how many of the
   ``horizon`` rows before a test window a purge by the fixed horizon drops that a purge by the
   real end keeps.
3. PBO by CSCV (``performance/overfitting.py``): wall time for T × N matrices of hourly returns
   and S = 16 (12,870 combinations); and, as an illustration only (gross of costs, not a study
   of anything the system trades), the PBO of choosing among TREND_TRIALS time-series momentum
   rules on BTCUSDT 1h — hold the sign of the last L hours' return for the next hour, L = 1..N.

Run: ``QT_DATA_DIR=../shared/data python bench/bench_edge_stats.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.labels import CLASSES
from quantum_trader.features.purging import fixed_horizon_spans, purge_mask
from quantum_trader.features.triple_barrier import Barrier, BarrierSpec, triple_barrier_labels
from quantum_trader.performance.overfitting import probability_of_backtest_overfitting

REPEAT = 5
SPECS = (
    BarrierSpec(),
    BarrierSpec(horizon=4, upper=1.0, lower=1.0),
    BarrierSpec(horizon=24, upper=4.0, lower=2.0, vertical="sign"),
    BarrierSpec(horizon=168, upper=8.0, lower=4.0),
)
TREND_TRIALS = 48


def best_of(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def labels_figures(data: Path) -> None:
    candles = CandleStore(data).series("BTCUSDT", "1h")
    print(f"BTCUSDT 1h: {len(candles):,} candles")
    for spec in SPECS:
        seconds = best_of(lambda spec=spec: triple_barrier_labels(candles, spec))
        out = triple_barrier_labels(candles, spec)
        known = out.labelled
        y = out.label[known].astype(np.int64)
        shares = np.bincount(y, minlength=3) / len(y)
        kinds = np.bincount(out.barrier[known], minlength=len(Barrier)) / len(y)
        length = out.end_index[known] - np.flatnonzero(known)
        print(
            f"  h={spec.horizon} up={spec.upper} dn={spec.lower} vertical={spec.vertical}: "
            f"{seconds * 1e3:.1f} ms; "
            + ", ".join(f"{c.name} {s:.1%}" for c, s in zip(CLASSES, shares, strict=True))
            + f"; ended by upper {kinds[Barrier.UPPER]:.1%}, lower {kinds[Barrier.LOWER]:.1%}, "
            f"both {kinds[Barrier.BOTH]:.2%}, time {kinds[Barrier.VERTICAL]:.1%}; "
            f"mean length {length.mean():.1f} candles (median {np.median(length):.0f})"
        )
        purge_figures(out.open_time[known], out.spans()[1], spec.horizon)


def purge_figures(start: np.ndarray, known_at: np.ndarray, horizon: int) -> None:
    """Over ten test-window starts spread across the data: rows the fixed horizon purges that
    the real end keeps (all of them are among the ``horizon`` rows before the window)."""
    fixed_end = fixed_horizon_spans(start, horizon, MS_PER_HOUR)[1]
    saved, dropped = 0, 0
    for test_start in np.linspace(start[horizon * 2], start[-horizon * 2], 10).astype(np.int64):
        test_start -= test_start % MS_PER_HOUR
        window = {
            "test_start": int(test_start),
            "test_end": int(test_start) + 30 * 24 * MS_PER_HOUR,
        }
        real = purge_mask(start, known_at, **window)
        fixed = purge_mask(start, fixed_end, **window)
        before = start < test_start
        saved += int((real & ~fixed & before).sum())
        dropped += int((~fixed & before).sum())
    print(
        f"    purge before a test window: real end keeps {saved} of the {dropped} rows the fixed horizon drops"
    )
    t0 = time.perf_counter()
    purge_mask(start, known_at, test_start=int(start[len(start) // 2]), test_end=int(start[-1]))
    print(f"    purge_mask over {len(start):,} rows: {(time.perf_counter() - t0) * 1e3:.2f} ms")


def pbo_figures(data: Path) -> None:
    rng = np.random.default_rng(0)
    for t, n in ((8_760, 20), (17_520, 100), (31_973, 200)):
        m = rng.normal(0, 0.01, (t, n))
        seconds = best_of(lambda m=m: probability_of_backtest_overfitting(m, 16), repeat=2)
        print(f"  PBO S=16 (12,870 combinations), T={t:,} × N={n}: {seconds:.2f} s")
    close = CandleStore(data).series("BTCUSDT", "1h").close
    r = np.diff(np.log(close))
    trials = []
    for lookback in range(1, TREND_TRIALS + 1):
        # position over hour t → t+1 from the return of t−L → t (known at t's close)
        signal = np.sign(np.log(close[lookback:-1] / close[: -lookback - 1]))
        trials.append((signal * r[lookback:])[TREND_TRIALS - lookback :])  # all from t = max L
    m = np.column_stack(trials)
    result = probability_of_backtest_overfitting(m, 16)
    counts = np.bincount(result.best, minlength=TREND_TRIALS)
    print(
        f"  illustration, {TREND_TRIALS} momentum lookbacks on BTCUSDT 1h, {len(m):,} hours, "
        f"gross: PBO {result.pbo:.3f}, degradation slope {result.degradation_slope:.2f}, "
        f"P(OOS Sharpe < 0) {result.prob_oos_loss:.3f}, most chosen lookback "
        f"{int(counts.argmax()) + 1} h ({counts.max() / result.combinations:.0%})"
    )


def main() -> None:
    data = Path(os.environ.get("QT_DATA_DIR", "../shared/data"))
    labels_figures(data)
    pbo_figures(data)


if __name__ == "__main__":
    main()
