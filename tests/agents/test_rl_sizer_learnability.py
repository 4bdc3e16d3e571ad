"""Learnability of the sizing policy (issue 18, acceptance): on a held-out synthetic run, the
sizing policy uses a smaller mean fraction in the regime built to lose (BEAR: a martingale
where every strategy loses its fees) than in the one built to win (BULL: TrendFollowing
collects the drift). Fixed seeds.

The rule selector picks the strategy; PPO (stable-baselines3, one torch thread, seeded, the
project's ``PpoConfig``) learns the fraction level of each entry on the training run's entries
(``sizing_loop.py``: a contextual bandit, reward ``f × the trade's net return``), is exported to
an ONNX bundle (``rl/export.py``) and served by :class:`RLSizer` through ONNX Runtime — the
served path — on the entries of a held-out run of another seed. The settings (timesteps,
network, learning rate, ``gamma = 0``, no entropy bonus) were chosen on the training run alone.
Figures: printed (``pytest -s``) and in ``docs/agents.md``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, POLICY, RLSizer
from quantum_trader.agents.sizing_observation import (
    SIZING_OBSERVATION_VERSION,
    sizing_observation,
)
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.rl.export import PolicyProvenance, export_policy
from quantum_trader.rl.ppo import PpoConfig, ppo_kwargs
from quantum_trader.status.registry import StatusRegistry
from tests.agents import sizing_loop

TRAIN_SEED, HELD_OUT_SEED = 1, 2
TRAIN_CANDLES, HELD_OUT_CANDLES = 12_000, 6_000
CONFIG = PpoConfig(total_timesteps=20_480, n_envs=1, n_steps=512, batch_size=128, n_epochs=4,
                learning_rate=1e-3, gamma=0.0, gae_lambda=0.0, ent_coef=0.0, net_arch=(32, 32),
                seed=TRAIN_SEED)  # fmt: skip


def train_and_export(run: list[sizing_loop.Entry], root: Path) -> OnnxPolicy:
    torch.set_num_threads(CONFIG.torch_threads)
    torch.use_deterministic_algorithms(True)
    venv = DummyVecEnv([lambda: Monitor(sizing_loop.SizingBanditEnv(run))])
    model = PPO("MlpPolicy", venv, device="cpu", **ppo_kwargs(CONFIG))
    model.learn(total_timesteps=CONFIG.total_timesteps)
    provenance = PolicyProvenance(
        name="rl_sizer",
        scope="synthetic",
        observation_version=SIZING_OBSERVATION_VERSION,
        env_version="sizing-bandit-test-1",
        reward_version="f-times-net-return-1",
        feature_version="strategy-loop",
        data_window=(0, TRAIN_CANDLES),
        seed=TRAIN_SEED,
        trial_id="learnability",
    )
    store = LocalArtifactStore(root)
    exported = export_policy(model, provenance, store, action_names=FRACTION_ACTIONS)
    return OnnxPolicy(load_bundle(store, exported.digest), registry_version=1)


def fractions_of(sizer: RLSizer, run: list[sizing_loop.Entry]) -> list[float]:
    """The fraction the served sizer gives each entry (its quantity over the base's)."""
    out = []
    for entry in run:
        quantity = sizer.size(entry.request).quantity
        decision = sizer.last_decision
        assert decision is not None and decision.decided_by == POLICY
        assert quantity == decision.fraction * decision.base_quantity
        out.append(decision.fraction)
    return out


def test_the_sizing_policy_sizes_down_in_the_regime_built_to_lose(tmp_path: Path) -> None:
    policy = train_and_export(sizing_loop.entries(TRAIN_SEED, TRAIN_CANDLES), tmp_path)
    held_out = sizing_loop.entries(HELD_OUT_SEED, HELD_OUT_CANDLES)
    handle = StatusRegistry(SimulatedClock(0)).register("rl_position_sizing", enabled=True,
                                                        reason="test")  # fmt: skip
    sizer = RLSizer(policy, sizing_observation, handle=handle)
    fractions = np.array(fractions_of(sizer, held_out))
    per_regime: dict[str, list[float]] = defaultdict(list)
    for entry, f in zip(held_out, fractions, strict=True):
        per_regime[entry.regime].append(float(f))
    means = {r: float(np.mean(v)) for r, v in sorted(per_regime.items())}
    returns = np.array([e.net_return for e in held_out])
    print(
        f"RL sizer, held-out seed {HELD_OUT_SEED}: mean f per regime "
        f"{ {r: round(v, 3) for r, v in means.items()} } over {len(held_out)} entries; "
        f"net return per base notional: base sizer {returns.sum():+.3f}, RL sizer "
        f"{(fractions * returns).sum():+.3f}; status {handle.status.counters}"
    )
    assert handle.status.counters["decided_by_policy"] == len(held_out)
    assert means["BEAR"] < means["BULL"]
