"""A toy choice environment and tiny PPO / MaskablePPO trainings for the export tests.

Observation: 10 values on very different scales (offsets up to 40, spreads up to 8), so that a
policy served without its ``VecNormalize`` statistics would act differently. Four actions; the
reward is 1 when the action is the index of the largest of the first four standardised values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.rl.export import ExportedPolicy, PolicyProvenance, export_policy
from quantum_trader.strategy.selector import STRATEGY_NAMES

OBS_SIZE, N_ACTIONS = 10, 4
OFFSET = np.linspace(-20.0, 40.0, OBS_SIZE)
SPREAD = np.linspace(0.5, 8.0, OBS_SIZE)
PPO_ARGS: dict[str, Any] = {
    "n_steps": 128,
    "batch_size": 64,
    "n_epochs": 2,
    "device": "cpu",
    "policy_kwargs": {"net_arch": [32, 32]},
}


class ToyChoiceEnv(gym.Env[np.ndarray, int]):
    observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(OBS_SIZE,), dtype=np.float32)
    action_space = gym.spaces.Discrete(N_ACTIONS)

    def __init__(self, episode_length: int = 16) -> None:
        self._length = episode_length
        self._z = np.zeros(OBS_SIZE)
        self._t = 0

    def _observe(self) -> np.ndarray:
        self._z = self.np_random.normal(size=OBS_SIZE)
        return raw_observation(self._z)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._observe(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward = 1.0 if int(action) == int(np.argmax(self._z[:N_ACTIONS])) else 0.0
        self._t += 1
        return self._observe(), reward, False, self._t >= self._length, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(N_ACTIONS, dtype=bool)  # MaskablePPO asks; nothing is masked here


def raw_observation(z: np.ndarray) -> np.ndarray:
    return (OFFSET + SPREAD * z).astype(np.float32)


def sample_observations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return raw_observation(rng.normal(size=(n, OBS_SIZE)))


def train(
    seed: int, steps: int = 256, *, maskable: bool = False
) -> tuple[PPO | MaskablePPO, VecNormalize]:
    """A tiny policy trained on one thread from ``seed``; its VecNormalize frozen after."""
    torch.set_num_threads(1)
    venv = VecNormalize(DummyVecEnv([ToyChoiceEnv]), norm_reward=False, clip_obs=5.0)
    algorithm = MaskablePPO if maskable else PPO
    model = algorithm("MlpPolicy", venv, seed=seed, **PPO_ARGS)
    model.learn(total_timesteps=steps)
    venv.training = False
    return model, venv


def provenance(seed: int) -> PolicyProvenance:
    return PolicyProvenance(
        name="ppo_selector",
        scope="global",
        observation_version="toy-obs-1",
        env_version="toy-env-1",
        reward_version="toy-reward-1",
        feature_version="toy-features-1",
        data_window=(1_700_000_000_000, 1_700_360_000_000),
        seed=seed,
        trial_id=f"toy-trial-{seed}",
        hyperparameters={"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    )


def export(
    model: PPO | MaskablePPO, venv: VecNormalize | None, root: Path, seed: int
) -> tuple[LocalArtifactStore, ExportedPolicy]:
    store = LocalArtifactStore(root)
    exported = export_policy(
        model, provenance(seed), store, action_names=STRATEGY_NAMES, vec_normalize=venv
    )
    return store, exported
