"""Tabular members: features + training time on 2 years of BTCUSDT-1h, and live-path latency.

Live path per call: ``StreamingFeatures.update(candle, funding)`` then ``model.predict_row(row)``
(the native booster on a preallocated 1-row array). Run: ``python bench/bench_tabular.py``.
Needs the shared data (QT_DATA_DIR or ../shared/data).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.pipeline import StreamingFeatures
from quantum_trader.features.series import CandleSeries
from quantum_trader.models.tabular import LgbmModel, TabularModel, XgbModel
from quantum_trader.models.tabular.training import train_tabular

CALLS = 3000


def data_dir() -> Path:
    env = os.environ.get("QT_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (path / "ohlcv").is_dir():
        raise SystemExit(f"no market data at {path}: set QT_DATA_DIR")
    return path


def live_latency(
    model: TabularModel, candles: CandleSeries, folder: Path
) -> tuple[np.ndarray, np.ndarray]:
    """µs per call of feature update + prediction over the last CALLS candles: wall time, and
    the thread's CPU time (which leaves out time the OS gave to other processes)."""
    funding = CandleStore(folder).funding_series("BTCUSDT")
    assert funding is not None
    state = StreamingFeatures("BTCUSDT", "1h")
    start = len(candles) - CALLS - 200
    times, cpu = [], []
    k = int(np.searchsorted(funding.time, candles.open_time[start]))
    for i in range(start, len(candles)):
        candle = candles.candle(i)  # built outside the timed section, like a feed would
        close_time = candle.open_time + MS_PER_HOUR
        settled = []
        while k < len(funding.time) and funding.time[k] < close_time:
            settled.append(FundingRate("BTCUSDT", int(funding.time[k]), float(funding.rate[k])))
            k += 1
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        row = state.update(candle, settled or None)
        if state.ready:
            model.predict_row(row)
        elapsed, used = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
        if i >= len(candles) - CALLS:
            times.append(elapsed / 1000.0)
            cpu.append(used / 1000.0)
    return np.array(times), np.array(cpu)


def main() -> None:
    folder = data_dir()
    candles = CandleStore(folder).series("BTCUSDT", "1h")
    end = int(candles.open_time[-1])
    two_years = candles.between(end - 730 * MS_PER_DAY, end)
    funding = CandleStore(folder).funding_series("BTCUSDT")
    print(f"machine: {os.cpu_count()} cores (shared with other work); rows: {len(two_years)}")
    t0 = time.perf_counter()
    data = make_dataset(two_years, funding)
    t_features = time.perf_counter() - t0
    models = {}
    timings = {}
    for name in ("xgb", "lgbm"):
        t1 = time.perf_counter()
        models[name] = train_tabular({"xgb": XgbModel, "lgbm": LgbmModel}[name], data)
        timings[name] = time.perf_counter() - t1
    total = t_features + sum(timings.values())
    print(
        f"features {t_features:.2f} s ({len(data)} rows × {len(data.names)} features); "
        f"train xgb {timings['xgb']:.2f} s, lgbm {timings['lgbm']:.2f} s; "
        f"total {total:.2f} s (budget 30 s)"
    )
    for name, model in models.items():
        lat, cpu = live_latency(model, candles, folder)
        print(
            f"live path {name}: {len(lat)} calls, feature update + predict: wall "
            f"p50 {np.percentile(lat, 50):.0f} µs, p99 {np.percentile(lat, 99):.0f} µs, "
            f"max {lat.max():.0f} µs; thread CPU p50 {np.percentile(cpu, 50):.0f} µs, "
            f"p99 {np.percentile(cpu, 99):.0f} µs (budget p99 1000 µs)"
        )
    state = StreamingFeatures("BTCUSDT", "1h")
    lat_f = []
    for i in range(len(candles) - CALLS, len(candles)):
        candle = candles.candle(i)
        t0 = time.perf_counter_ns()
        state.update(candle)
        lat_f.append((time.perf_counter_ns() - t0) / 1000.0)
    print(
        f"feature update alone: p50 {np.percentile(lat_f, 50):.0f} µs, "
        f"p99 {np.percentile(lat_f, 99):.0f} µs"
    )


if __name__ == "__main__":
    main()
