"""Decision latency with the learning agents on (issue 18: decision p99 stays ≤ 3 ms).

Side by side, in child processes of ``bench_pipeline.py`` (each figure its own process), on the
live path (the members vote candle by candle; candle in → risk-checked order out):

* **off**: ``QT_RL_AGENTS=false`` — the rule selector decides;
* **on**: ``QT_RL_AGENTS=true`` with ``QT_SELECTOR=ppo`` — every decision runs the PPO
  selector's policy (observation, normalisation, ONNX Runtime), a shadow account does not run
  (the policy serves production), and the training daemon trains in its worker process during
  the replay (daily runs of engine time), so decisions share the two cores with training.

The first process trains the members and the first policy (not measured). Then ``REPEATS``
alternating pairs; the medians of their p99s are compared.

    QT_DATA_DIR=../shared/data python bench/bench_agents_latency.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_pipeline import child

SYMBOLS = os.environ.get("BENCH_SYMBOLS", "BTCUSDT,ETHUSDT")
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "10"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
OFF = {"QT_RL_AGENTS": "false", "QT_QLEARNING": "false"}
ON = {"QT_RL_AGENTS": "true", "QT_SELECTOR": "ppo", "QT_QLEARNING": "false"}


def main() -> None:
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    with tempfile.TemporaryDirectory(prefix="qt-bench-agents-") as tmp:
        home = Path(tmp)
        print(f"machine: {os.cpu_count()} cores; symbols {SYMBOLS}; {REPLAY_DAYS}-day replays")
        child(home, 1, symbols=SYMBOLS, extra_env=ON)  # members and the first policy
        p99: dict[str, list[float]] = {"off": [], "on": []}
        for repeat in range(REPEATS):
            for name, env in (("off", OFF), ("on", ON)):
                run = child(home, REPLAY_DAYS, False, symbols=SYMBOLS, extra_env=env)
                lat = run["latency_us"]
                assert isinstance(lat, dict)
                p99[name].append(float(lat["p99"]))
                modules = dict(run["modules"])  # type: ignore[call-overload]
                print(
                    f"  repeat {repeat + 1} {name}: p50 {lat['p50']:.0f} µs, p99 {lat['p99']:.0f}"
                    f" µs, max {lat['max']:.0f} µs, {run['decisions']} decisions; "
                    f"rl_meta_strategy {modules.get('rl_meta_strategy')}, torch in the serving "
                    f"process: {run['torch_imported']}",
                    flush=True,
                )
        off, on = statistics.median(p99["off"]), statistics.median(p99["on"])
        print(
            f"decision p99, median of {REPEATS}: agents off {off:.0f} µs, on {on:.0f} µs "
            f"({on / off - 1:+.1%}); budget 3,000 µs"
        )


if __name__ == "__main__":
    main()
