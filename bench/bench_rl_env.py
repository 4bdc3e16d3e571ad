"""PPO training throughput on the strategy selector's environment, in env steps per second
(issue 18: >= 1,000 on this machine), side by side with stable-baselines3's own PPO on a
trivial environment (CartPole-v1), and the environment's own step cost without PPO.

The environment (``rl/env.py``) replays BTCUSDT 1h from the candle store (``QT_DATA_DIR``,
the shared data; ``BENCH_DATA=synthetic``: the project's generator) through the engine and the
decision path, with LightGBM and XGBoost members trained (default parameters) on the year
before the episodes' candles. Per repeat:

* ``env``: random actions, resets included (``BENCH_ENV_STEPS`` steps);
* ``ppo_ours``: PPO with the project's ``PpoConfig`` on the environment;
* ``ppo_sb3_defaults``: PPO with stable-baselines3's default hyperparameters (one env,
  n_steps 2048, batch 64, 10 epochs) on the environment;
* ``cartpole_sb3_defaults`` / ``cartpole_ours``: the same two configs on CartPole-v1.

Each PPO figure is ``total_timesteps`` over the seconds of ``learn`` (the model built before);
``env_share`` is the part of them spent in the environments' ``step`` and ``reset``. One math
thread (``torch.set_num_threads(1)``), as the training worker runs. The figures are the
medians over ``BENCH_REPEATS``; then a profile of the environment's step (cProfile, top
functions by own time). Run niced, and note the load:

    QT_DATA_DIR=../shared/data PYTHONPATH=src nice -n 10 .venv/bin/python bench/bench_rl_env.py
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
PPO_STEPS = int(os.environ.get("BENCH_PPO_STEPS", "16384"))
ENV_STEPS = int(os.environ.get("BENCH_ENV_STEPS", "5000"))
DATA = os.environ.get("BENCH_DATA", "real")
SYMBOL = "BTCUSDT"
TRAIN_CANDLES = 24 * 365


class Timed(gym.Wrapper[Any, Any, Any, Any]):
    """Adds the seconds spent in the wrapped environment's step and reset to ``seconds``."""

    seconds = 0.0

    def step(self, action: Any) -> Any:
        started = time.perf_counter()
        out = self.env.step(action)
        Timed.seconds += time.perf_counter() - started
        return out

    def reset(self, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = self.env.reset(**kwargs)
        Timed.seconds += time.perf_counter() - started
        return out


def _data() -> tuple[str, pd.DataFrame, list[Any]]:
    if DATA == "synthetic":
        from quantum_trader.data.synthetic import SyntheticConfig, generate_market

        (series,) = generate_market(SyntheticConfig(seed=1, candles=TRAIN_CANDLES + 4000), [SYMBOL])
        return series.symbol, series.frame, []
    from quantum_trader.adapters.candle_store import CandleStore

    store = CandleStore(Path(os.environ.get("QT_DATA_DIR", "../shared/data")))
    frame = store.load(SYMBOL, "1h").tail(TRAIN_CANDLES + 4000).reset_index(drop=True)
    return SYMBOL, frame, list(store.funding_rates(SYMBOL))


def _members(symbol: str, frame: pd.DataFrame) -> list[Any]:
    from quantum_trader.features.dataset import make_dataset
    from quantum_trader.features.series import CandleSeries
    from quantum_trader.models.ensemble.member import TabularMember
    from quantum_trader.models.tabular.lgbm import LgbmModel
    from quantum_trader.models.tabular.training import train_tabular
    from quantum_trader.models.tabular.xgb import XgbModel

    data = make_dataset(CandleSeries.from_frame(symbol, "1h", frame))
    return [TabularMember(train_tabular(cls, data, scope=symbol)) for cls in (LgbmModel, XgbModel)]


def _env_steps(env: Any, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    started = time.perf_counter()
    for _ in range(steps):
        *_, truncated, _info = env.step(int(rng.integers(4)))
        if truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def _learn(model: Any, steps: int) -> tuple[float, float]:
    Timed.seconds = 0.0
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    return model.num_timesteps / seconds, Timed.seconds / seconds


def _cartpole(kwargs: dict[str, Any], n_envs: int) -> Any:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Timed(gym.make("CartPole-v1"))] * n_envs)
    return PPO("MlpPolicy", venv, device="cpu", **kwargs)


def main() -> None:
    import torch

    from quantum_trader.models.ensemble.ensemble import EnsembleConfig
    from quantum_trader.rl.env import EnvConfig, StrategySelectionEnv
    from quantum_trader.rl.parts import EnvPartsConfig
    from quantum_trader.rl.ppo import PpoConfig, TrainingRequest, build_ppo, ppo_kwargs

    torch.set_num_threads(1)
    symbol, frame, funding = _data()
    members = _members(symbol, frame.iloc[:TRAIN_CANDLES].reset_index(drop=True))
    config = EnvConfig(symbol, EnvPartsConfig(EnsembleConfig(("lgbm", "xgb"), min_consensus=1)))
    # the episodes' candles follow the members' training window (its last ones only warm up)
    episodes = frame.iloc[TRAIN_CANDLES - config.warm_up_candles :].reset_index(drop=True)
    ours = PpoConfig(total_timesteps=PPO_STEPS)
    defaults = PpoConfig(total_timesteps=PPO_STEPS, n_envs=1, n_steps=2048, batch_size=64,
                         n_epochs=10, ent_coef=0.0)  # fmt: skip
    runs: dict[str, list[float]] = {}
    shares: dict[str, list[float]] = {}

    def note(name: str, figure: tuple[float, float]) -> None:
        runs.setdefault(name, []).append(figure[0])
        shares.setdefault(name, []).append(figure[1])

    for repeat in range(REPEATS):
        env = StrategySelectionEnv(config, episodes, members, funding=funding)
        note("env", (_env_steps(env, ENV_STEPS, repeat), 1.0))
        for name, cfg in (("ppo_ours", ours), ("ppo_sb3_defaults", defaults)):
            request = TrainingRequest(config, episodes, lambda: members, cfg, tuple(funding))
            note(name, _learn(build_ppo(request, members, wrap=Timed), PPO_STEPS))
        sb3 = {"seed": repeat}
        note("cartpole_sb3_defaults", _learn(_cartpole(sb3, 1), PPO_STEPS))
        note("cartpole_ours", _learn(_cartpole(ppo_kwargs(ours), ours.n_envs), PPO_STEPS))
    medians = {k: statistics.median(v) for k, v in runs.items()}
    print(
        json.dumps(
            {
                "data": f"{DATA} {symbol} 1h, {len(episodes)} candles, members lgbm+xgb",
                "repeats": REPEATS,
                "ppo_steps": PPO_STEPS,
                "ppo_ours": ours.__repr__(),
                "steps_per_s_median": {k: round(v) for k, v in medians.items()},
                "steps_per_s_all": {k: [round(x) for x in v] for k, v in runs.items()},
                "env_share_of_learn_median": {
                    k: round(statistics.median(v), 3) for k, v in shares.items() if k != "env"
                },
                "env_step_us": round(1e6 / medians["env"], 1),
                "ratio_ours_env_to_sb3_cartpole": round(
                    medians["ppo_ours"] / medians["cartpole_sb3_defaults"], 2
                ),
                "ratio_sb3_defaults_env_to_sb3_cartpole": round(
                    medians["ppo_sb3_defaults"] / medians["cartpole_sb3_defaults"], 2
                ),
                "load": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            },
            indent=1,
        )
    )
    _profile(StrategySelectionEnv(config, episodes, members, funding=funding))


#: (file suffix, function) whose cumulative time the profile breaks a step down into
PARTS = (
    ("rl/env.py", "_begin"),  # a reset's episode: session, warm-up, batch votes
    ("decision/pipeline.py", "warm_up"),
    ("decision/pipeline.py", "prepare_replay"),
    ("rl/env.py", "step"),
    ("engine/engine.py", "run_bars"),  # one candle: clock, exchange, portfolio, open_decision
    ("simulated/exchange.py", "on_bar"),
    ("portfolio/portfolio.py", "on_bar"),
    ("decision/pipeline.py", "open_decision"),
    ("decision/pipeline.py", "_inputs"),  # features and window (live and batch)
    ("models/ensemble/ensemble.py", "decide"),
    ("decision/pipeline.py", "close_decision"),
    ("risk/engine.py", "evaluate"),
    ("execution/order_manager.py", "submit"),
    ("agents/observation.py", "selector_observation"),
)


def _profile(env: Any) -> None:
    """The environment's steps under cProfile: where a step's time goes (cumulative seconds
    per part, per step), then the functions with the most own time."""
    profile = cProfile.Profile()
    profile.enable()
    _env_steps(env, ENV_STEPS, 99)
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"profile of {ENV_STEPS} environment steps (cProfile slows each call), µs per step:")
    print(f"  {'all':<44} {total / ENV_STEPS * 1e6:8.1f}")
    for suffix, name in PARTS:
        seconds = sum(
            row[3]
            for (path, _line, func), row in stats.stats.items()  # type: ignore[attr-defined]
            if func == name and path.endswith(suffix)
        )
        print(f"  {suffix + ' ' + name:<44} {seconds / ENV_STEPS * 1e6:8.1f}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    print("\n".join(out.getvalue().splitlines()[6:30]))


if __name__ == "__main__":
    main()
