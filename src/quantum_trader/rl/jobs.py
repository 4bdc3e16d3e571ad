"""Module 16's computation: one training run of the PPO strategy selector, in the worker process.

:func:`train_policy_job` is what ``rl/daemon.py`` hands to its worker (a spawned process;
``clock/workers.py``). It runs there, whole:

1. **train** with :func:`~quantum_trader.rl.ppo.train_ppo` on the episodes of the training
   window (candles closing before the held-out window), from the given weights or from scratch;
2. **judge** the trained policy on the **held-out window** (the candles after the training
   window, up to the trigger's time; never trained on) through the same environment — the
   project's engine, exchange, fees and funding — greedily (the served choice), beside the
   rule selector on the same candles: each one's net return, trades and the paired Sharpe
   difference of their candle returns with its 95 % block-bootstrap interval
   (:class:`HeldOutFigures`);
3. **export** the policy to ONNX into the content-addressed artifact store as a policy bundle
   (``rl/export.py``), and its weights beside it (the next run starts from them).

The result is plain data (:class:`PolicyJobResult`); registering it, recording the trial and
moving stages happen back on the engine thread (``rl/daemon.py``). Importing this module does
not import torch: the serving process imports it to name the job; torch, stable-baselines3 and
the exporter enter inside :func:`train_policy_job`, in the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quantum_trader.agents.policy_bundle import PolicyManifest
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, FRACTION_LEVELS
from quantum_trader.decision.shadow import paired_sharpe_difference
from quantum_trader.evaluation.ledger import candle_returns, per_candle_sharpe
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.serving import loaders_for
from quantum_trader.models.ensemble.loading import ArtifactSource
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.forecasting.member import ForecastVoter
from quantum_trader.models.forecasting.memo import process_memo
from quantum_trader.rl.ppo import KINDS, TrainingRequest
from quantum_trader.strategy.selector import STRATEGY_NAMES, RegimeRuleSelector

#: the weights file of a policy's state artifact (``torch.save`` of its ``state_dict``)
STATE_FILE = "policy_state.pt"


class StateStore(ArtifactSource, Protocol):
    """The artifact store as the job uses it: open by address, and put a filled folder."""

    def put(self, write: Callable[[Path], object]) -> str: ...

    def path(self, digest: str) -> Path: ...


def members_from_store(
    store: ArtifactSource, artifacts: Sequence[tuple[str, str]], labels: LabelSpec
) -> list[Member]:
    """The ensemble's members from their artifacts, ``(model name, artifact hash)`` each: the
    versions production served when the run was asked for (a ``functools.partial`` of this is
    the request's picklable member loader). A forecaster keeps the quantiles it computed in
    this process's memo of its artifact (``models/forecasting/memo.py``): the same votes."""
    loaders = loaders_for(labels)
    out = []
    for name, digest in artifacts:
        loader = loaders.get(name)
        if loader is None:
            raise ValueError(f"no loader for model {name!r} (artifact {digest[:12]}…)")
        member = loader(store.open(digest), None)
        if isinstance(member, ForecastVoter):  # the episodes' windows recur run after run
            member.member.memo = process_memo(digest, member.member.labels.horizon)
        out.append(member)
    return out


@dataclass(frozen=True, slots=True)
class HeldOutFigures:
    """The trained policy beside the rule selector on the held-out window (same candles)."""

    candles: int
    policy_return: float  # net, on the initial balance
    rules_return: float
    policy_trades: int
    rules_trades: int
    #: annualised Sharpe of the policy's candle returns minus the rules', 95 % interval (None:
    #: too few returns, or no variation)
    sharpe_difference: tuple[float, float, float] | None
    policy_sharpe: float | None = None  # per candle (the trial ledger's figure)
    baseline: str = "rules"  # what it was judged against
    mean_fraction: float | None = None  # a sizing policy's mean f over its held-out entries

    @property
    def beats_rules(self) -> bool:
        """The interval lies above zero: the evidence a policy needs to serve production."""
        return self.sharpe_difference is not None and self.sharpe_difference[1] > 0

    def summary(self) -> str:
        diff = self.sharpe_difference
        sharpe = (
            "Sharpe difference n/a"
            if diff is None
            else f"Sharpe difference {diff[0]:+.2f} [{diff[1]:+.2f}, {diff[2]:+.2f}]"
        )
        fraction = "" if self.mean_fraction is None else f", mean f {self.mean_fraction:.2f}"
        return (
            f"held-out {self.candles} candles: policy {self.policy_return:+.2%} "
            f"({self.policy_trades} trades{fraction}) vs {self.baseline} "
            f"{self.rules_return:+.2%} ({self.rules_trades} trades), {sharpe}"
        )

    def metrics(self) -> dict[str, float]:
        """As registry lineage metrics (finite numbers only)."""
        out = {
            "held_out_candles": float(self.candles),
            "held_out_return": self.policy_return,
            "held_out_rules_return": self.rules_return,
            "held_out_trades": float(self.policy_trades),
            "held_out_rules_trades": float(self.rules_trades),
        }
        if self.mean_fraction is not None:
            out["held_out_mean_fraction"] = self.mean_fraction
        if self.sharpe_difference is not None:
            point, low, high = self.sharpe_difference
            out |= {"sharpe_diff": point, "sharpe_diff_low": low, "sharpe_diff_high": high}
        return out


@dataclass(frozen=True)
class PolicyJob:
    """One run's inputs; it pickles (the worker gets it whole)."""

    request: TrainingRequest  # the training window's frame, members, PPO settings, warm start
    held_out: pd.DataFrame  # warm-up candles, then the held-out window (same symbol)
    held_out_candles: int
    name: str  # the registry line's name ("ppo_selector")
    scope: str  # the line's scope ("global")
    trial_id: str
    feature_version: str
    store: StateStore  # where the bundle and the weights go
    periods_per_year: float
    data_hash: str = ""


@dataclass(frozen=True, slots=True)
class PolicyJobResult:
    digest: str  # the bundle's address
    manifest: PolicyManifest
    state_digest: str  # the weights' artifact (the next run's warm start)
    timesteps: int
    episodes: int
    mean_episode_reward: float | None
    seconds: float
    held_out: HeldOutFigures
    warm_start: bool


def train_policy_job(job: PolicyJob) -> PolicyJobResult:
    """Train, judge on the held-out window and export (see the module docstring)."""
    from quantum_trader.rl.export import PolicyProvenance, export_actor
    from quantum_trader.rl.ppo import load_policy, train_ppo

    request = job.request
    members = tuple(request.members())  # loaded once: for training and for the judgement
    trained = train_ppo(request, members)
    policy = load_policy(trained)
    held_out = judge_on_held_out(job, members, _greedy(policy))
    provenance = PolicyProvenance(
        name=job.name,
        scope=job.scope,
        observation_version=trained.observation_version,
        env_version=trained.env_version,
        reward_version=trained.reward_version,
        feature_version=job.feature_version,
        data_window=trained.data_window,
        seed=request.ppo.seed,
        trial_id=job.trial_id,
        data_hash=job.data_hash,
        hyperparameters={
            "total_timesteps": request.ppo.total_timesteps,
            "episode_candles": request.env.episode_candles,
            "symbol": request.env.symbol,
            "net_arch": list(request.ppo.net_arch),
            "learning_rate": request.ppo.learning_rate,
        },
    )
    names = FRACTION_ACTIONS if request.kind == "sizer" else STRATEGY_NAMES
    exported = export_actor(policy, trained.algorithm, provenance, job.store, action_names=names)
    state = trained.state
    state_digest = job.store.put(lambda folder: (folder / STATE_FILE).write_bytes(state))
    return PolicyJobResult(
        exported.digest,
        exported.manifest,
        state_digest,
        trained.timesteps,
        trained.episodes,
        trained.mean_episode_reward,
        trained.seconds,
        held_out,
        request.initial_state is not None,
    )


#: chooses the action (its index) at the open decision of an environment from its observation
Chooser = Callable[[np.ndarray, Any], int]


def _greedy(policy: object) -> Chooser:
    """The served choice of a stable-baselines3 policy: its most probable action."""

    def choose(obs: np.ndarray, _env: Any) -> int:
        action, _ = policy.predict(obs, deterministic=True)  # type: ignore[attr-defined]
        return int(action)

    return choose


def _baseline(kind: str) -> tuple[str, Chooser]:
    """What a policy of ``kind`` is judged against: the rule selector, or the base sizer's
    whole size (f = 1)."""
    if kind == "sizer":
        full = FRACTION_LEVELS.index(1.0)
        return "fixed_fractional", lambda _obs, _env: full
    rules = RegimeRuleSelector()
    return "rules", lambda _obs, env: STRATEGY_NAMES.index(rules.select(env.selection).strategy)


def judge_on_held_out(job: PolicyJob, members: Sequence[Member], policy: Chooser) -> HeldOutFigures:
    """``policy`` and its baseline, each through one episode of the environment over the
    held-out window (the same candles, votes and costs), compared candle by candle."""
    name, baseline = _baseline(job.request.kind)
    ours, our_trades, actions = held_out_episode(job, members, policy)
    theirs, their_trades, _ = held_out_episode(job, members, baseline)
    balance = job.request.env.initial_balance
    n = min(len(ours), len(theirs))
    diff = paired_sharpe_difference(
        _returns(ours[:n]), _returns(theirs[:n]), job.periods_per_year, seed=job.request.ppo.seed
    )
    mean_fraction = None
    if job.request.kind == "sizer" and actions:
        mean_fraction = float(np.mean([FRACTION_LEVELS[a] for a in actions]))
    return HeldOutFigures(
        len(ours),
        ours[-1] / balance - 1.0,
        theirs[-1] / balance - 1.0,
        our_trades,
        their_trades,
        diff,
        per_candle_sharpe(ours),
        name,
        mean_fraction,
    )


def held_out_episode(
    job: PolicyJob, members: Sequence[Member], choose: Chooser
) -> tuple[list[float], int, list[int]]:
    """One episode over the held-out window: the account's equity at each candle, its closed
    trades and the actions taken. A window where a sizer has nothing to size (no entry) is an
    episode without steps: the flat account."""
    cfg = job.request.env
    config = replace(cfg, episode_candles=job.held_out_candles)
    env = KINDS[job.request.kind][0](config, job.held_out, members, funding=job.request.funding)
    actions: list[int] = []
    try:
        try:
            obs, _info = env.reset(options={"start": cfg.warm_up_candles})
        except RuntimeError:  # no decision to take in the window
            return [cfg.initial_balance] * job.held_out_candles, 0, actions
        done = False
        while not done:
            action = choose(obs, env)
            actions.append(action)
            obs, _reward, _terminated, done, _info = env.step(action)
        portfolio = env.session.portfolio
        return [float(e) for e in portfolio.equity_values], portfolio.trade_count, actions
    finally:
        env.close()


def _returns(equity: Sequence[float]) -> np.ndarray:
    """The candle returns of an account that stayed solvent; none otherwise (a pair is compared
    over the same candles, which an account wiped out part-way no longer has)."""
    values = np.asarray(equity, dtype=float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        return np.zeros(0)
    return candle_returns(values)
