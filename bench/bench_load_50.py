"""Load: a 30-day paper replay of 50 symbols with every module on (issue 22, Part B item 11).

The shared data has 28 symbols at 1h; the other 22 are synthetic (``data/synthetic.py``:
regime switching, GARCH volatility, jumps; ``SYN``-prefixed, so nothing built on them can pass
for a real-market result), written into the run's candle store before the job starts and ending
at the same candle as the real data, so all 50 replay the same 30 days side by side.

One process runs the main job as ``make run`` does (paper venue, the four members voting live
candle by candle so every decision's latency is the live path's, continuous learning, the
agents and their daemon, A/B testing, shadow trading), on a fresh home. It reports whether the
run completed, the decisions, the decision latency (candle in → risk-checked order out), the
process's peak RSS and the training workers' peak RSS, and which modules are not ACTIVE.

    QT_DATA_DIR=../shared/data PYTHONPATH=src python bench/bench_load_50.py

``BENCH_SYMBOLS`` (50), ``BENCH_REAL`` (28: how many are real), ``BENCH_REPLAY_DAYS`` (30) and ``BENCH_TRAIN_DAYS`` (180: the members'
bootstrap history; the default 730 days of 50 symbols is a training benchmark, not a load one)
set the size; ``BENCH_HOME`` keeps the home for ``quantum-trader status``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.domain.time import MS_PER_DAY, timeframe_ms

TOTAL = int(os.environ.get("BENCH_SYMBOLS", "50"))
REAL = int(os.environ.get("BENCH_REAL", "28"))  # how many of them are the shared data's
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "30"))
TRAIN_DAYS = int(os.environ.get("BENCH_TRAIN_DAYS", "180"))
TIMEFRAME = "1h"
SEED = 20240616


def real_symbols(data_dir: Path) -> list[str]:
    """Every symbol of the shared data at 1h, BTCUSDT first (the cross-asset reference)."""
    suffix = f"-{TIMEFRAME}.parquet"
    names = sorted(p.name[: -len(suffix)] for p in (data_dir / "ohlcv").glob(f"*{suffix}"))
    return sorted(names, key=lambda s: s != "BTCUSDT")


def last_close_open_time(data_dir: Path) -> int:
    """The open time of BTCUSDT's last candle: where the synthetic series end too."""
    import pandas as pd

    frame = pd.read_parquet(data_dir / "ohlcv" / f"BTCUSDT-{TIMEFRAME}.parquet")
    return int(frame["timestamp"].iloc[-1].value // 1_000_000)


def write_synthetic(store: CandleStore, count: int, end_open: int) -> list[str]:
    """``count`` synthetic symbols covering the training history and the replay."""
    if count <= 0:
        return []
    step = timeframe_ms(TIMEFRAME)
    candles = (REPLAY_DAYS + TRAIN_DAYS + 30) * MS_PER_DAY // step
    config = SyntheticConfig(
        seed=SEED, candles=int(candles), timeframe=TIMEFRAME, start=end_open - (candles - 1) * step
    )
    names = [f"L{i:02d}USDT" for i in range(count)]
    written = []
    for series in generate_market(config, names):
        store.write(series.symbol, TIMEFRAME, series.frame, synthetic=True, source="bench_load_50")
        written.append(series.symbol)
    return written


def main() -> None:
    data_dir = os.environ.get("QT_DATA_DIR")
    if not data_dir:
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    home = Path(os.environ.get("BENCH_HOME") or tempfile.mkdtemp(prefix="bench-load-"))
    real = real_symbols(Path(data_dir))[: min(REAL, TOTAL)]
    synthetic = write_synthetic(
        CandleStore(home / "store"), TOTAL - len(real), last_close_open_time(Path(data_dir))
    )
    symbols = real + synthetic
    os.environ.update(
        QT_HOME=str(home),
        QT_SYMBOLS=",".join(symbols),
        QT_REPLAY_DAYS=str(REPLAY_DAYS),
        QT_TRAIN_DAYS=str(TRAIN_DAYS),
        QT_OFFLINE="true",
        QT_REPLAY_BATCH_VOTES="false",  # every vote on the live path: its latency is measured
        QT_LOG_LEVEL=os.environ.get("QT_LOG_LEVEL", "WARNING"),
    )
    # imported after the environment is set: settings are read from it
    from quantum_trader.app.main_job import run_main_job
    from quantum_trader.config import load_settings

    print(
        f"machine: {os.cpu_count()} cores; {len(real)} real + {len(synthetic)} synthetic "
        f"symbols, {REPLAY_DAYS}-day replay, {TRAIN_DAYS} days of bootstrap history; home {home}",
        flush=True,
    )
    started = time.perf_counter()
    total, shown = [0], [0.0]

    def progress(done: int) -> None:
        """A line every 5 % of the replay: a run stopped before its end still says how far it
        got, how fast, and at what peak RSS."""
        share = done / total[0] if total[0] else 0.0
        if share - shown[0] >= 0.05 or done == total[0]:
            shown[0] = share
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  {done:,}/{total[0]:,} candles ({share:.0%}) after "
                  f"{(time.perf_counter() - started) / 60:.1f} min; peak RSS {peak:.0f} MiB",
                  flush=True)  # fmt: skip

    result = run_main_job(
        load_settings(),
        record_latency=True,
        on_start=lambda n: total.__setitem__(0, n),
        on_progress=progress,
    )
    wall = time.perf_counter() - started
    lat = np.asarray(result.latencies_ns, dtype=np.float64) / 1e3
    statuses = result.runtime.status.snapshot()
    figures = {
        "symbols": len(symbols),
        "decisions": int(result.summary["decisions"]),
        "trades": result.summary.get("trades"),
        "job_minutes": round(wall / 60, 2),
        "replay_seconds": round(result.replay_seconds, 1),
        "latency_us": {
            q: round(float(np.percentile(lat, p)), 1) for q, p in (("p50", 50), ("p99", 99))
        }
        | {"max": round(float(lat.max()), 1), "n": len(lat)},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mib": {
            s.name: s.counters["training_worker_peak_rss_mib"]
            for s in statuses
            if "training_worker_peak_rss_mib" in s.counters
        },
        "not_active": {s.name: s.state.value for s in statuses if s.state.value != "ACTIVE"},
        "modules": len(statuses),
    }
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
