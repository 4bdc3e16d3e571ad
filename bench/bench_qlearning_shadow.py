"""What the Q-learner's shadow pair (module 14, ``QT_QLEARNING``) costs a ``make run``.

The main job with ``make run``'s settings (four members, continuous learning, shadow trading)
on BTCUSDT and ETHUSDT, offline, replaying the last ``BENCH_REPLAY_DAYS`` (20). The members are
trained once in a template home (Q-learner off); each run starts from a fresh copy of it, so
every run serves the same models and the Q-learner always starts from an empty table. Per
repeat the two runs go side by side, off then on; the figures are each run's replay seconds
(batch votes included, as the main job counts them) and its whole wall time, and the medians
over ``BENCH_REPEATS`` (3). Decision latency is not measured here: the pair decides after
production, outside its latency (``bench_shadow_latency.py`` measures that for model shadows).
Run: ``QT_DATA_DIR=../shared/data python bench/bench_qlearning_shadow.py``; other settings from
the environment (``CONTINUOUS_LEARNING_ENABLED=false`` measures the pair without the
retraining that dominates a replay with learning on).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
REPLAY_DAYS = os.environ.get("BENCH_REPLAY_DAYS", "20")


def _run(home: Path, qlearning: bool) -> dict[str, float]:
    os.environ["QT_HOME"] = str(home)
    os.environ["QT_QLEARNING"] = "true" if qlearning else "false"
    started = time.perf_counter()
    result = run_main_job(load_settings(), write_report=False)
    wall = time.perf_counter() - started
    result.runtime.db.dispose()
    return {"replay_s": result.replay_seconds, "wall_s": wall, "trades": result.summary["trades"]}


def main() -> None:
    os.environ.update({"QT_OFFLINE": "true", "QT_REPLAY_DAYS": REPLAY_DAYS})
    with tempfile.TemporaryDirectory(prefix="bench-qshadow-") as tmp:
        template = Path(tmp) / "template"
        print("training the members in the template home ...", flush=True)
        _run(template, qlearning=False)
        rows: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for repeat in range(REPEATS):
            for name, flag in (("off", False), ("on", True)):
                home = Path(tmp) / f"{name}-{repeat}"
                shutil.copytree(template, home)
                rows[name].append(_run(home, flag))
                print(name, repeat, json.dumps(rows[name][-1]), flush=True)
                shutil.rmtree(home)
    medians = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("replay_s", "wall_s")}
        for name, runs in rows.items()
    }
    print(json.dumps({"replay_days": REPLAY_DAYS, "runs": rows, "median": medians}, indent=1))
    off, on = medians["off"]["replay_s"], medians["on"]["replay_s"]
    print(f"replay: {off:.1f} s off, {on:.1f} s on (+{on - off:.1f} s, {on / off - 1:+.0%})")


if __name__ == "__main__":
    main()
