"""A one-year replay of two symbols with continuous learning on (issue 17: ≤ 20 minutes here).

The main job as ``make run`` runs it, on a fresh home, with ``QT_REPLAY_DAYS`` days (365 by
default) of BTCUSDT and ETHUSDT 1h: the four members trained at bootstrap, then the learning
daemon on the replay clock with the defaults (a weekly schedule, drift, covariate-shift and
decay triggers, forecasters fine-tuned from production's weights, the gate with its trading
check, shadow trading). Prints the wall time of the whole job and of the replay alone, and
continuous learning's and shadow_models' counters from ``status``. Run:

    QT_DATA_DIR=../shared/data PYTHONPATH=src python bench/bench_year_replay.py

(``BENCH_REPLAY_DAYS`` for another length; ``BENCH_HOME`` to keep the home for ``status``.)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings

REPLAY_DAYS = os.environ.get("BENCH_REPLAY_DAYS", "365")
SHOWN = ("continuous_learning", "shadow_models", "model_registry")


def main() -> None:
    home = os.environ.get("BENCH_HOME") or tempfile.mkdtemp(prefix="bench-year-")
    os.environ.update(
        QT_HOME=str(Path(home)),
        QT_REPLAY_DAYS=REPLAY_DAYS,
        QT_OFFLINE="true",
        QT_SYMBOLS="BTCUSDT,ETHUSDT",
    )
    started = time.perf_counter()
    result = run_main_job(load_settings())
    wall = time.perf_counter() - started
    counters = {
        s.name: dict(s.counters) for s in result.runtime.status.snapshot() if s.name in SHOWN
    }
    print(json.dumps({"counters": counters, "summary": result.summary}, indent=1, default=str))
    metrics = result.summary.get("metrics", {})
    print(
        f"{REPLAY_DAYS}-day replay of BTCUSDT and ETHUSDT with continuous learning on: "
        f"job {wall / 60:.1f} min, replay {result.replay_seconds / 60:.1f} min; "
        f"return {metrics.get('total_return', float('nan')):+.2%}, "
        f"trades {result.summary.get('trades')}; "
        f"home {home}"
    )


if __name__ == "__main__":
    main()
