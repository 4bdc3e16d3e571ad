"""Decision latency with one shadow running, against the same replay without (issue 17).

The main job on BTCUSDT and ETHUSDT with the four members, every member voting candle by candle
as live (``QT_REPLAY_BATCH_VOTES=false``: a slot with a challenger votes live anyway), no
retraining (the one challenger is the one put there). Per repeat, side by side on one database:

* ``none``: no challenger;
* ``shadow``: a copy of xgb/BTCUSDT's production version in SHADOW, with shadow trading: the
  slot asks the challenger too on every BTCUSDT decision (after the decision, outside its
  latency: a SHADOW version has no share of the vote) and two more pipelines trade the
  challenger's and the twin's accounts after each decision (outside it, on the same cores);
* ``shadow, no trading``: the same challenger with ``QT_SHADOW_TRADING=false``.

The copy is retired after each repeat and a new one registered for the next. Latency is a
decision's (candle in → risk-checked order out); the figures are the medians over repeats of
each run's p50 and p99, and each run's replay seconds. Run:
``QT_DATA_DIR=../shared/data python bench/bench_shadow_latency.py`` (BENCH_REPEATS,
BENCH_REPLAY_DAYS).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.clock.clock import WallClock
from quantum_trader.config import load_settings
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
REPLAY_DAYS = os.environ.get("BENCH_REPLAY_DAYS", "30")


def _run(*, shadow_trading: bool = True) -> RunResult:
    os.environ["QT_SHADOW_TRADING"] = "true" if shadow_trading else "false"
    return run_main_job(load_settings(), record_latency=True)


def _registry(result: RunResult) -> tuple[ModelRegistry, ModelKey]:
    registry = ModelRegistry(SqlRegistryRepository(result.runtime.db), WallClock())
    return registry, ModelKey("xgb", "BTCUSDT", result.runtime.settings.label_horizon)


def _figures(result: RunResult) -> dict[str, float]:
    lat = np.asarray(result.latencies_ns, dtype=np.float64) / 1e3
    return {
        "p50_us": float(np.percentile(lat, 50)),
        "p99_us": float(np.percentile(lat, 99)),
        "replay_s": result.replay_seconds,
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    os.environ.update(
        QT_HOME=str(home),
        QT_REPLAY_DAYS=REPLAY_DAYS,
        QT_OFFLINE="true",
        QT_REPLAY_BATCH_VOTES="false",
        CONTINUOUS_LEARNING_ENABLED="false",
        QT_SYMBOLS="BTCUSDT,ETHUSDT",
    )
    trained = run_main_job(load_settings())  # trains the four members once
    registry, key = _registry(trained)
    runs: dict[str, list[dict[str, float]]] = {"none": [], "shadow": [], "shadow, no trading": []}
    for _ in range(REPEATS):
        runs["none"].append(_figures(_run()))
        champion = registry.production(key)
        assert champion is not None
        twin = registry.register(
            champion.lineage, champion.artifact_hash, actor="bench", reason="twin"
        )
        registry.promote(key, twin.version, actor="bench", reason="bench", to=Stage.SHADOW)
        shadowed = _run()
        assert shadowed.summary.get("shadow_trading"), "no shadow account ran"
        runs["shadow"].append(_figures(shadowed))
        runs["shadow, no trading"].append(_figures(_run(shadow_trading=False)))
        registry.retire(key, twin.version, actor="bench", reason="next repeat")
    medians = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }
    base = medians["none"]["p99_us"]
    print(json.dumps({"repeats": REPEATS, "replay_days": REPLAY_DAYS, "runs": runs}, indent=1))
    for name, m in medians.items():
        print(
            f"{name:>20}: p50 {m['p50_us']:7.0f} µs  p99 {m['p99_us']:7.0f} µs "
            f"({m['p99_us'] / base - 1:+.1%} vs none)  replay {m['replay_s']:6.1f} s"
        )


if __name__ == "__main__":
    main()
