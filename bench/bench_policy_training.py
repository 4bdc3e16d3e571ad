"""One PPO strategy-selector policy trained at full size in a worker process (issue 18: "one
policy trained in <= 20 minutes"): wall time, env steps per second, peak RSS.

What runs, as the training daemon would run it (``rl/ppo.py``, ``docs/agents.md``):

* **Data**: BTCUSDT 1h from the candle store (``QT_DATA_DIR``, the shared data) with its
  funding rates: ``BENCH_TRAIN_DAYS`` (365) days the members are trained on, then
  ``BENCH_EPISODE_DAYS`` (180) days the episodes are drawn from (after the 500-candle warm-up,
  which is the training window's tail: no episode trades a candle a member was fitted on).
* **Members**: the main job's four (``AI_ENGINE_ENSEMBLE_MODELS`` default: xgb, lgbm, nhits,
  patchtst; consensus 2), each trained with the project's own trainer and defaults
  (``train_tabular``; ``train_candle_forecaster``, seed 0) and saved as an artifact folder
  before the clock starts. The worker loads them from disk (``TrainingRequest.members``),
  as the daemon would load the production members from the registry; that load is timed.
* **PPO**: ``PpoConfig`` defaults (100,000 timesteps, 4 environments, n_steps 256, batch 256,
  4 epochs, one torch thread), ``BENCH_TIMESTEPS`` to change the budget.
* **Process**: a ``ProcessWorker`` (``clock/workers.py``): a spawned process with one math
  thread that gets the whole ``TrainingRequest`` pickled. Its niceness is production's nice 19
  plus ``SCHED_IDLE`` only with ``BENCH_IDLE_CLASS=1``: on this shared machine the other load is
  other engineers' jobs, not an idle engine, and the idle class would measure their load rather
  than the training. The default is nice 10 without the idle class.

Figures: ``wall_s`` (submit to result: the request's transfer, the members' load, the
environments, ``learn``, the state's bytes back), the worker's own ``seconds``
(``TrainedPolicy.seconds``), env steps/s over the wall time, the worker's peak RSS (``VmHWM``,
read in the worker after training) and the parent's. Run niced, and note the load:

    QT_DATA_DIR=../shared/data PYTHONPATH=src nice -n 10 .venv/bin/python bench/bench_policy_training.py
"""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

SYMBOL = "BTCUSDT"
TRAIN_DAYS = int(os.environ.get("BENCH_TRAIN_DAYS", "365"))
EPISODE_DAYS = int(os.environ.get("BENCH_EPISODE_DAYS", "180"))
TIMESTEPS = int(os.environ.get("BENCH_TIMESTEPS", "100000"))
IDLE_CLASS = os.environ.get("BENCH_IDLE_CLASS", "0") == "1"
MODELS = ("xgb", "lgbm", "nhits", "patchtst")  # the main job's default members
BUDGET_S = 20 * 60


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _train_members(frame: pd.DataFrame, home: Path) -> dict[str, float]:
    """Train the four members on ``frame`` and save each under ``home/<name>``; seconds each."""
    from quantum_trader.features.dataset import make_dataset
    from quantum_trader.features.series import CandleSeries
    from quantum_trader.models.forecasting.candles import (
        CloseSeries,
        save_candle_member,
        train_candle_forecaster,
    )
    from quantum_trader.models.tabular.lgbm import LgbmModel
    from quantum_trader.models.tabular.training import train_tabular
    from quantum_trader.models.tabular.xgb import XgbModel

    data = make_dataset(CandleSeries.from_frame(SYMBOL, "1h", frame))
    seconds: dict[str, float] = {}
    for name, cls in (("xgb", XgbModel), ("lgbm", LgbmModel)):
        started = time.perf_counter()
        train_tabular(cls, data, scope=SYMBOL).save(home / name)
        seconds[name] = time.perf_counter() - started
    closes = CloseSeries(
        SYMBOL, frame["open_time"].to_numpy(), frame["close"].to_numpy(dtype="float64")
    )
    for architecture in ("nhits", "patchtst"):
        started = time.perf_counter()
        model, metadata = train_candle_forecaster(
            architecture, [closes], data.label_spec, seed=0, progress=False
        )
        save_candle_member(model, metadata, home / architecture)
        seconds[architecture] = time.perf_counter() - started
    return seconds


def load_members(home: str, labels: Any) -> Sequence[Any]:
    """The saved members, loaded in the worker (module level: the request must pickle)."""
    from quantum_trader.models.ensemble.loading import tabular_loader
    from quantum_trader.models.forecasting.member import forecast_loader
    from quantum_trader.models.tabular.lgbm import LgbmModel
    from quantum_trader.models.tabular.xgb import XgbModel

    loaders = {
        "xgb": tabular_loader(XgbModel),
        "lgbm": tabular_loader(LgbmModel),
        "nhits": forecast_loader(labels),
        "patchtst": forecast_loader(labels),
    }
    return [loaders[name](Path(home) / name, None) for name in MODELS]


def peak_rss_mib(_: object) -> float:
    """This process's peak resident set (VmHWM), MiB: run in the worker after training."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    from quantum_trader.adapters.candle_store import CandleStore
    from quantum_trader.clock.worker_process import WorkerLimits
    from quantum_trader.clock.workers import ProcessWorker
    from quantum_trader.models.ensemble.ensemble import EnsembleConfig
    from quantum_trader.rl.env import EnvConfig
    from quantum_trader.rl.parts import EnvPartsConfig
    from quantum_trader.rl.ppo import PpoConfig, TrainingRequest, train_ppo

    load_before = _uptime()
    store = CandleStore(Path(os.environ.get("QT_DATA_DIR", "../shared/data")))
    train_candles, episode_candles = TRAIN_DAYS * 24, EPISODE_DAYS * 24
    frame = store.load(SYMBOL, "1h").tail(train_candles + episode_candles)
    frame = frame.reset_index(drop=True)
    config = EnvConfig(SYMBOL, EnvPartsConfig(EnsembleConfig(MODELS, min_consensus=2)))
    # the episodes follow the members' training window; its last candles only warm up
    episodes = frame.iloc[train_candles - config.warm_up_candles :].reset_index(drop=True)
    ppo = PpoConfig(total_timesteps=TIMESTEPS)
    limits = WorkerLimits(nice=19, idle_class=True) if IDLE_CLASS else WorkerLimits(nice=10,
                                                                                  idle_class=False)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as home:
        started = time.perf_counter()
        member_seconds = _train_members(frame.iloc[:train_candles].reset_index(drop=True),
                                        Path(home))  # fmt: skip
        members_s = time.perf_counter() - started
        request = TrainingRequest(
            config,
            episodes,
            functools.partial(load_members, home, config.labels),
            ppo,
            tuple(store.funding_rates(SYMBOL)),
        )
        with ProcessWorker("rl-training-bench", limits) as worker:
            started = time.perf_counter()
            trained = worker.submit(train_ppo, request).result()
            wall_s = time.perf_counter() - started
            worker_peak = worker.submit(peak_rss_mib, None).result()
            applied = worker.applied
    times = pd.to_datetime(list(trained.data_window), unit="ms", utc=True)
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "data": f"{SYMBOL} 1h; members trained on {train_candles} candles, "
                f"episodes drawn from {len(episodes)} ({times[0]} .. {times[1]})",
                "members": list(MODELS),
                "member_training_s": {k: round(v, 1) for k, v in member_seconds.items()},
                "member_training_total_s": round(members_s, 1),
                "ppo": repr(ppo),
                "worker_limits": repr(limits),
                "worker_applied": repr(applied),
                "wall_s": round(wall_s, 1),
                "worker_seconds": round(trained.seconds, 1),
                "timesteps": trained.timesteps,
                "episodes": trained.episodes,
                "mean_episode_reward": trained.mean_episode_reward,
                "steps_per_s_wall": round(trained.timesteps / wall_s),
                "worker_peak_rss_mib": round(worker_peak, 1),
                "parent_peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "within_20_min": wall_s <= BUDGET_S,
                "load_before": load_before,
                "load_after": _uptime(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
