"""Training the PPO strategy selector with stable-baselines3, as one plain picklable call.

:func:`train_ppo` takes a :class:`TrainingRequest` (the environment's config, the candles, a
picklable loader of the ensemble's members, the PPO config, optionally the policy to start
from) and returns a :class:`TrainedPolicy`: the policy's weights as bytes and what produced
them. Everything in and out pickles, so a ``ProcessWorker`` (``clock/workers.py``) runs it in a
spawned process: torch is imported there, never in the serving process.

**Masking.** While the risk engine is HALTED only Neutral is allowed. The environment enforces
it by itself (another action is replaced by Neutral, ``rl/env.py``), so plain PPO trains
correctly; ``PpoConfig.masked`` trains sb3-contrib's MaskablePPO on the environment's
``action_masks`` instead, which also keeps the masked actions out of the gradient. Plain PPO is
the default: HALTED decisions are rare, and its ONNX export is the plain policy network.

**Determinism.** Seeded (``PpoConfig.seed``: torch, numpy, the environments' episode draws)
on the CPU with ``torch_threads`` math threads and deterministic torch algorithms, the same
request gives a byte-identical policy (``tests/rl/test_ppo.py``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import gymnasium as gym
import pandas as pd

from quantum_trader.agents.observation import SELECTOR_OBSERVATION_VERSION
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_VERSION
from quantum_trader.domain.market import FundingRate
from quantum_trader.models.ensemble.member import Member
from quantum_trader.rl.env import (
    ENV_VERSION,
    REWARD_VERSION,
    EnvConfig,
    StrategySelectionEnv,
    selector_spaces,
)
from quantum_trader.rl.sizing_env import (
    SIZING_ENV_VERSION,
    SIZING_REWARD_VERSION,
    PositionSizingEnv,
    sizing_spaces,
)

#: each kind of policy: its environment, its (observation, environment, reward) versions, and
#: its spaces
KINDS: dict[str, tuple[Any, tuple[str, str, str], Callable[[], Any]]] = {
    "selector": (
        StrategySelectionEnv,
        (SELECTOR_OBSERVATION_VERSION, ENV_VERSION, REWARD_VERSION),
        selector_spaces,
    ),
    "sizer": (
        PositionSizingEnv,
        (SIZING_OBSERVATION_VERSION, SIZING_ENV_VERSION, SIZING_REWARD_VERSION),
        sizing_spaces,
    ),
}

#: loads the ensemble's members inside the worker (a module-level function, or a
#: ``functools.partial`` of one: it must pickle)
LoadMembers = Callable[[], Sequence[Member]]


@dataclass(frozen=True, slots=True)
class PpoConfig:
    """PPO's hyperparameters (stable-baselines3's names) and the run's seed and budget.

    The defaults differ from stable-baselines3's (one environment, ``n_steps`` 2048, batches
    of 64, 10 epochs) for throughput on two cores: several environments share each forward
    pass, and fewer, larger minibatches do the update (``bench/bench_rl_env.py``).
    """

    total_timesteps: int = 100_000
    n_envs: int = 4
    n_steps: int = 256  # per environment and rollout
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (64, 64)
    seed: int = 0
    masked: bool = False  # sb3-contrib MaskablePPO on the environment's action masks
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.total_timesteps < 1 or self.n_envs < 1 or self.n_steps < 2:
            raise ValueError(
                f"PpoConfig: total_timesteps={self.total_timesteps}, n_envs={self.n_envs} "
                f"must be >= 1 and n_steps={self.n_steps} >= 2"
            )
        if not 1 < self.batch_size <= self.n_envs * self.n_steps:
            raise ValueError(
                f"PpoConfig.batch_size={self.batch_size}: must be in 2..n_envs*n_steps "
                f"({self.n_envs * self.n_steps})"
            )
        if not self.net_arch or min(self.net_arch) < 1:
            raise ValueError(f"PpoConfig.net_arch={self.net_arch}: layer sizes must be >= 1")


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one training run needs; it pickles (a worker process gets it whole)."""

    env: EnvConfig
    frame: pd.DataFrame  # the symbol's candles the episodes are drawn from
    members: LoadMembers
    ppo: PpoConfig = field(default_factory=PpoConfig)
    funding: tuple[FundingRate, ...] = ()
    #: the policy to continue from (a :attr:`TrainedPolicy.state` of the same ``net_arch``);
    #: None: from scratch
    initial_state: bytes | None = None
    #: what the policy chooses: the strategy (``rl/env.py``) or the size's fraction
    #: (``rl/sizing_env.py``, module 15)
    kind: Literal["selector", "sizer"] = "selector"


@dataclass(frozen=True)
class TrainedPolicy:
    """A trained policy's weights (``torch.save`` of its ``state_dict``) and its provenance."""

    state: bytes
    ppo: PpoConfig
    env: EnvConfig
    observation_version: str
    env_version: str
    reward_version: str
    data_window: tuple[int, int]  # first and last open time of the candles trained on
    timesteps: int
    episodes: int
    mean_episode_reward: float | None  # over the last 100 finished episodes
    seconds: float
    algorithm: str  # "PPO" or "MaskablePPO"
    kind: Literal["selector", "sizer"] = "selector"


def train_ppo(request: TrainingRequest, members: Sequence[Member] | None = None) -> TrainedPolicy:
    """Train (see the module docstring); torch and stable-baselines3 are imported here.
    ``members``: already loaded by the caller (else ``request.members`` loads them)."""
    import torch  # training only: the serving process never imports torch
    from stable_baselines3.common.logger import Logger

    cfg = request.ppo
    started = time.perf_counter()
    torch.set_num_threads(cfg.torch_threads)
    torch.use_deterministic_algorithms(True)
    model = build_ppo(request, tuple(request.members()) if members is None else members)
    if request.initial_state is not None:
        model.policy.load_state_dict(
            torch.load(io.BytesIO(request.initial_state), weights_only=True)
        )
    # No log output: without a logger of its own, stable-baselines3 makes an empty folder
    # /tmp/SB3-<time> at every learn() (configure() with no folder), one per training in a run.
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(total_timesteps=cfg.total_timesteps)
    versions = KINDS[request.kind][1]
    episodes = _episodes(model)
    model.get_env().close()
    times = request.frame["open_time"]
    return TrainedPolicy(
        state=policy_bytes(model.policy),
        ppo=cfg,
        env=request.env,
        observation_version=versions[0],
        env_version=versions[1],
        reward_version=versions[2],
        data_window=(int(times.iloc[0]), int(times.iloc[-1])),
        timesteps=int(model.num_timesteps),
        episodes=episodes[0],
        mean_episode_reward=episodes[1],
        seconds=time.perf_counter() - started,
        algorithm=type(model).__name__,
        kind=request.kind,
    )


def policy_bytes(policy: Any) -> bytes:
    """The policy's ``state_dict`` as ``torch.save`` bytes."""
    import torch

    buffer = io.BytesIO()
    torch.save(policy.state_dict(), buffer)
    return buffer.getvalue()


def load_policy(trained: TrainedPolicy) -> Any:
    """The trained policy as a stable-baselines3 ``ActorCriticPolicy`` (sb3-contrib's
    ``MaskableActorCriticPolicy`` for MaskablePPO) on the CPU, for the ONNX export
    (``rl/export.py``) and for checks: built for the environment's spaces with the config's
    architecture, its weights loaded from :attr:`TrainedPolicy.state`."""
    import torch
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy

    cls = MaskableActorCriticPolicy if trained.algorithm == "MaskablePPO" else ActorCriticPolicy
    observations, actions = KINDS[trained.kind][2]()
    policy = cls(
        observations,
        actions,
        lambda _progress: trained.ppo.learning_rate,
        net_arch=list(trained.ppo.net_arch),
    )
    policy.load_state_dict(torch.load(io.BytesIO(trained.state), weights_only=True))
    policy.set_training_mode(False)
    return policy


def build_ppo(
    request: TrainingRequest,
    members: Sequence[Member],
    wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]] | None = None,
) -> Any:
    """The stable-baselines3 model :func:`train_ppo` trains, untrained: ``n_envs`` environments
    (each in a ``Monitor``, then in ``wrap`` if given: the bench times them) stepped in turn on
    this thread by a ``DummyVecEnv`` (two cores: no subprocesses)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    cfg = request.ppo

    def make() -> gym.Env[Any, Any]:
        env = KINDS[request.kind][0](request.env, request.frame, members, funding=request.funding)
        monitored = Monitor(env)
        return monitored if wrap is None else wrap(monitored)

    venv = DummyVecEnv([make] * cfg.n_envs)
    kwargs = ppo_kwargs(cfg)
    if cfg.masked:
        from sb3_contrib import MaskablePPO

        return MaskablePPO("MlpPolicy", venv, device="cpu", **kwargs)
    return PPO("MlpPolicy", venv, device="cpu", **kwargs)


def ppo_kwargs(cfg: PpoConfig) -> dict[str, Any]:
    """``cfg`` as stable-baselines3's PPO arguments (the seed and the network included)."""
    skip = ("total_timesteps", "n_envs", "net_arch", "masked", "torch_threads")
    kwargs = {k: v for k, v in asdict(cfg).items() if k not in skip}
    return kwargs | {"policy_kwargs": {"net_arch": list(cfg.net_arch)}}


def _episodes(model: Any) -> tuple[int, float | None]:
    """Finished episodes and the mean reward of the last 100 (Monitor's records)."""
    infos = list(model.ep_info_buffer or [])
    finished = sum(len(r) for r in model.get_env().get_attr("episode_returns"))
    mean = sum(float(i["r"]) for i in infos) / len(infos) if infos else None
    return finished, mean
