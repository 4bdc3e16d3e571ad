"""Decision latency on paced candles with the training workers paused during each decision
(``QT_TRAINING_PAUSE``, ``clock/pause.py``) against the same run without the pause.

One home is trained first (``bench_pipeline``'s training child). Then the same paced replay of
REPLAY_DAYS on SYMBOLS (votes candle by candle, as live; every module on, so the learning
daemons retrain in their workers beside it; ``BENCH_THROTTLE_MS`` of sleep per candle, so
the workers train between decisions as they do between live candles) runs ROUNDS times with
the pause and without, alternating which goes first. Each run prints p50 / p99 / max of the
decision latency (candle in → risk-checked order out) and the pause's own evidence (decisions
that stopped a worker, the time the workers spent stopped).

Run: ``QT_DATA_DIR=../shared/data PYTHONPATH=src python bench/bench_training_pause.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench_pipeline import child

SYMBOLS = os.environ.get("BENCH_SYMBOLS", "BTCUSDT,ETHUSDT")
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
THROTTLE_MS = float(os.environ.get("BENCH_THROTTLE_MS", "20"))

PACED = r"""
import json, os
import numpy as np
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.run_options import RunOptions
from quantum_trader.config import load_settings

options = RunOptions(throttle_s=float(os.environ["BENCH_THROTTLE_MS"]) / 1000.0)
result = run_main_job(load_settings(), record_latency=True, options=options)
lat = np.array(result.latencies_ns, dtype=np.float64) / 1e3
pause = result.runtime.training_pause.stats
print(json.dumps({
    "decisions": len(lat),
    "p50": float(np.percentile(lat, 50)),
    "p99": float(np.percentile(lat, 99)),
    "max": float(lat.max()),
    "holds": pause.holds,
    "held_ms": pause.held_ns / 1e6,
    "longest_us": pause.longest_ns / 1e3,
}))
"""


def paced(home: Path, pause: bool) -> dict[str, float]:
    figures = child(
        home,
        REPLAY_DAYS,
        batch_votes=False,
        script=PACED,
        symbols=SYMBOLS,
        extra_env={
            "QT_TRAINING_PAUSE": str(pause).lower(),
            "BENCH_THROTTLE_MS": str(THROTTLE_MS),
        },
    )
    return {k: float(v) for k, v in figures.items()}  # type: ignore[arg-type]


def main() -> None:
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    keep = os.environ.get("BENCH_HOME")
    with tempfile.TemporaryDirectory(prefix="qt-bench-pause-") as tmp:
        home = Path(keep) if keep else Path(tmp)
        child(home, 1, symbols=SYMBOLS)  # trains every model the replays serve
        print(f"{os.cpu_count()} cores; {SYMBOLS}; {REPLAY_DAYS} days; {THROTTLE_MS:g} ms/candle")
        print("round  pause  decisions   p50 µs   p99 µs   max µs  holds  held ms  longest µs")
        for r in range(ROUNDS):
            for pause in (True, False) if r % 2 == 0 else (False, True):
                f = paced(home, pause)
                print(
                    f"{r + 1:>5}  {'on' if pause else 'off':>5}  {f['decisions']:>9.0f}  "
                    f"{f['p50']:>7,.0f}  {f['p99']:>7,.0f}  {f['max']:>7,.0f}  "
                    f"{f['holds']:>5.0f}  {f['held_ms']:>7.1f}  {f['longest_us']:>10,.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
