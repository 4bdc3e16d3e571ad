"""Pipeline budgets of the main job (issue: decision latency, replay throughput, serving RSS).

Three child processes, so each figure belongs to one process:

1. *training*: ``run_main_job`` on SYMBOLS with a one-day replay trains every missing model
   (tree models in-process, forecasters in a spawned worker whose peak RSS is reported);
2. *serving, live path*: ``run_main_job`` again on the same database — every model now has a
   PRODUCTION version, so nothing trains — replays REPLAY_DAYS through the full pipeline with
   all four models and every module on, every member voting candle by candle as live, recording
   each decision's latency (candle in → risk-checked order out);
3. *serving, replay*: the same with the replay's votes computed in batch first (the main job's
   default; ``tests/app/test_batch_votes.py`` proves the decisions equal). Its throughput is the
   replay figure. The peak RSS of 2 and 3 are the steady-state serving figures.

Budgets: p99 decision latency ≤ 3 ms per symbol; ≥ 2,000 symbol-decisions/s; serving peak RSS
≤ 400 MiB with 10 symbols. Run: ``QT_DATA_DIR=../shared/data python bench/bench_pipeline.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT,ADAUSDT,DOGEUSDT,LINKUSDT,LTCUSDT,DOTUSDT"
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "30"))
TRAIN_DAYS = int(os.environ.get("BENCH_TRAIN_DAYS", "365"))

CHILD = r"""
import json, os, resource, sys
import numpy as np
from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings

result = run_main_job(load_settings(), record_latency=True)
lat = np.array(result.latencies_ns, dtype=np.float64) / 1e3
decisions = int(result.summary["decisions"])
print(json.dumps({
    "decisions": decisions,
    "replay_seconds": result.replay_seconds,
    "decisions_per_second": decisions / result.replay_seconds if result.replay_seconds else 0.0,
    "latency_us": {
        "p50": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99": float(np.percentile(lat, 99)) if len(lat) else None,
        "max": float(lat.max()) if len(lat) else None,
    },
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_imported": "torch" in sys.modules,
    "trained": [f"{r.key} {r.seconds:.1f}s" for r in result.training if r.trained],
    "modules": {s.name: s.state.value for s in result.runtime.status.snapshot()},
    "worker_rss_mib": {
        s.name: s.counters.get("training_worker_peak_rss_mib")
        for s in result.runtime.status.snapshot()
        if "training_worker_peak_rss_mib" in s.counters
    },
}))
"""


def child(
    home: Path,
    replay_days: int,
    batch_votes: bool = True,
    *,
    script: str = CHILD,
    symbols: str = SYMBOLS,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """One measuring process; ``script`` (default: ``CHILD``) prints its figures as JSON last.
    ``bench_retrain_latency.py`` passes a script that starts a retraining worker around it."""
    env = dict(os.environ)
    env.update(
        QT_REPLAY_BATCH_VOTES=str(batch_votes).lower(),
        QT_HOME=str(home),
        QT_SYMBOLS=symbols,
        QT_REPLAY_DAYS=str(replay_days),
        QT_TRAIN_DAYS=str(TRAIN_DAYS),
        QT_LOG_LEVEL="WARNING",
        QT_OFFLINE="true",  # the replay only: no live phase after it
    )
    env.update(extra_env or {})
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True
    )
    loaded: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def main() -> None:
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    # BENCH_HOME keeps the trained models between runs (the serving figures need no retraining)
    keep = os.environ.get("BENCH_HOME")
    with tempfile.TemporaryDirectory(prefix="qt-bench-") as tmp:
        home = Path(keep) if keep else Path(tmp)
        print(f"machine: {os.cpu_count()} cores; symbols: {SYMBOLS}")
        training = child(home, 1)
        print(f"training process: trained {training['trained']}")
        print(
            f"  peak RSS {training['peak_rss_mib']:.0f} MiB (tree models train in-process); "
            f"forecaster worker peak RSS (MiB): {training['worker_rss_mib']}"
        )
        # The live path votes candle by candle: its latency is the budget's. A replay may
        # compute its votes in batch first (QT_REPLAY_BATCH_VOTES): its throughput is the
        # replay budget's; both processes' peak RSS count.
        streaming = child(home, REPLAY_DAYS, batch_votes=False)
        serving = child(home, REPLAY_DAYS, batch_votes=True)
        lat = streaming["latency_us"]
        assert isinstance(lat, dict)
        print(f"serving process: {REPLAY_DAYS}-day replay, nothing trained: {serving['trained']}")
        print(
            f"  decision latency, live path (votes candle by candle; candle in → risk-checked "
            f"order out), all four models and every module on: p50 {lat['p50']:.0f} µs, "
            f"p99 {lat['p99']:.0f} µs, max {lat['max']:.0f} µs (budget p99 3000 µs)"
        )
        for name, run in (("votes candle by candle", streaming), ("batch votes", serving)):
            print(
                f"  replay throughput, {name}: {run['decisions']:,} symbol-decisions in "
                f"{run['replay_seconds']:.1f} s = {run['decisions_per_second']:,.0f}/s "
                f"(budget ≥ 2,000/s); peak RSS {run['peak_rss_mib']:.0f} MiB with 10 symbols "
                f"(budget 400 MiB); torch imported: {run['torch_imported']}"
            )
        off = {k: v for k, v in dict(serving["modules"]).items() if v != "ACTIVE"}  # type: ignore[call-overload]
        print(f"  modules not ACTIVE: {off or 'none'}")


if __name__ == "__main__":
    main()
