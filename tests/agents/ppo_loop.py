"""Train the PPO selector on the strategy loop's environment (``loop_env.py``), export it as a
policy bundle and serve it through :class:`PolicySelector` over a held-out loop run: the
learnability test's parts (``test_ppo_learnability.py``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.observation import SELECTOR_OBSERVATION_VERSION, selector_observation
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.policy_selector import PolicySelector
from quantum_trader.data.synthetic import SyntheticSeries
from quantum_trader.rl.export import PolicyProvenance, export_policy
from quantum_trader.rl.ppo import PpoConfig, ppo_kwargs
from quantum_trader.strategy.selector import STRATEGY_NAMES, StrategySelector
from tests.agents import loop_env
from tests.agents import strategy_loop as loop


@dataclass(frozen=True)
class Trained:
    selector: PolicySelector
    seconds: float
    timesteps: int
    episodes: int


def train(cfg: PpoConfig, store_root: Path, *, episode_candles: int = 2_000) -> Trained:
    """PPO on ``cfg.n_envs`` loop environments (markets drawn from ``cfg.seed``), observations
    normalised by a ``VecNormalize`` frozen at export; the bundle loaded back and served."""
    torch.set_num_threads(cfg.torch_threads)
    started = time.perf_counter()
    venv = VecNormalize(
        DummyVecEnv([lambda: Monitor(loop_env.LoopEnv(episode_candles))] * cfg.n_envs),
        norm_reward=False,
    )
    model = PPO("MlpPolicy", venv, device="cpu", **ppo_kwargs(cfg))
    model.learn(total_timesteps=cfg.total_timesteps)
    venv.training = False
    seconds = time.perf_counter() - started
    episodes = sum(len(r) for r in venv.get_attr("episode_returns"))
    provenance = PolicyProvenance(
        name="ppo_selector",
        scope="synthetic",
        observation_version=SELECTOR_OBSERVATION_VERSION,
        env_version=loop_env.ENV_VERSION,
        reward_version=loop_env.REWARD_VERSION,
        feature_version="strategy-loop",
        data_window=(0, 0),
        seed=cfg.seed,
        trial_id=f"learnability-{cfg.seed}",
        hyperparameters=_json(asdict(cfg)),
    )
    store = LocalArtifactStore(store_root)
    exported = export_policy(
        model, provenance, store, action_names=STRATEGY_NAMES, vec_normalize=venv
    )
    policy = OnnxPolicy(load_bundle(store, exported.digest))
    selector = PolicySelector(policy, selector_observation)
    return Trained(selector, seconds, int(model.num_timesteps), episodes)


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def run_served(
    series: list[SyntheticSeries], selector: StrategySelector, seed: int
) -> loop.LoopResult:
    """``strategy_loop.run`` with each context given the symbol's sub-account
    (``loop_env.Books.context``), as the environment's observations are: same decisions,
    same counting."""
    books = loop_env.Books()
    lp = loop.Loop(series, selector.name, books.on_trade, seed=seed)
    for ctx in lp.pending():
        lp.decide(selector.select(books.context(lp, ctx)).strategy)
    return lp.out
