"""Export a trained stable-baselines3 policy to a versioned, content-hashed ONNX bundle.

What is exported is the actor only: observation → features → actor MLP → action logits, and
their softmax (the probabilities a ``Categorical`` over those logits gives). It covers
``PPO``'s ``ActorCriticPolicy`` and sb3-contrib ``MaskablePPO``'s
``MaskableActorCriticPolicy`` (same actor; masks are applied by whoever serves, on the
probabilities) with a flat ``Box`` observation and a ``Discrete`` action space. The value head
is not exported: serving never needs it.

ONNX opset 17 (:data:`ONNX_OPSET`, as the forecasters) with the TorchScript exporter
(``dynamo=False``): it needs no onnxscript, and it writes the same bytes for the same weights,
so the same seed gives the same bundle address. The observation normalisation is not in the
graph but in the manifest (``VecNormalize``'s mean, var, clip and epsilon at export), applied by
the serving side in numpy exactly as ``VecNormalize.normalize_obs`` does.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import stable_baselines3
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize

from quantum_trader.agents.policy_bundle import (
    VEC_NORMALIZE,
    Normalisation,
    PolicyManifest,
    write_bundle,
)
from quantum_trader.domain.digests import sha256_bytes

ONNX_OPSET = 17
INPUT_NAME, LOGITS_OUTPUT, PROBS_OUTPUT = "obs", "logits", "probs"


@dataclass(frozen=True, slots=True)
class PolicyProvenance:
    """How a policy was made: what the bundle's manifest records beside the network."""

    name: str  # the registry line: "ppo_selector", …
    scope: str  # a symbol, or "global"
    observation_version: str
    env_version: str
    reward_version: str
    feature_version: str
    data_window: tuple[int, int]  # epoch ms: first and last open time trained on
    seed: int
    trial_id: str
    data_hash: str = ""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # JSON values


@dataclass(frozen=True, slots=True)
class ExportedPolicy:
    digest: str  # the bundle's address in the artifact store: what the registry records
    manifest: PolicyManifest


class ArtifactWriter(Protocol):
    """``adapters/artifacts.py`` ``LocalArtifactStore``: fill a folder, store it by content."""

    def put(self, write: Callable[[Path], object]) -> str: ...


#: the two policy classes whose actor is exported (PPO's, and MaskablePPO's)
ActorPolicy = ActorCriticPolicy | MaskableActorCriticPolicy


class _Actor(torch.nn.Module):
    """The actor of an ``ActorCriticPolicy``: observation → (logits, probabilities)."""

    def __init__(self, policy: ActorPolicy) -> None:
        super().__init__()
        self.features = policy.pi_features_extractor
        self.mlp = policy.mlp_extractor
        self.head = policy.action_net

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # ``preprocess_obs`` of a flat Box observation is a float cast, done by the caller
        logits = self.head(self.mlp.forward_actor(self.features(obs)))
        return logits, torch.softmax(logits, dim=-1)


def export_policy(
    model: BaseAlgorithm,
    provenance: PolicyProvenance,
    store: ArtifactWriter,
    *,
    action_names: Sequence[str],
    vec_normalize: VecNormalize | None = None,
    opset: int = ONNX_OPSET,
) -> ExportedPolicy:
    """Write ``model``'s policy as one bundle into ``store``; return its address and manifest.

    ``vec_normalize``: the training environment's ``VecNormalize`` when it normalised
    observations (its statistics at this moment are recorded); None means identity.
    """
    policy, size = _actor_policy(model, action_names)
    return export_actor(
        policy,
        type(model).__name__,
        provenance,
        store,
        action_names=action_names,
        normalisation=normalisation_of(vec_normalize, size),
        opset=opset,
    )


def export_actor(
    policy: ActorPolicy,
    algorithm: str,
    provenance: PolicyProvenance,
    store: ArtifactWriter,
    *,
    action_names: Sequence[str],
    normalisation: Normalisation | None = None,
    opset: int = ONNX_OPSET,
) -> ExportedPolicy:
    """:func:`export_policy` for a policy alone (``rl/ppo.py`` ``load_policy`` rebuilds one
    from a :class:`~quantum_trader.rl.ppo.TrainedPolicy`); its observation size is its
    observation space's."""
    obs_space, action_space = policy.observation_space, policy.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"export {algorithm}: observation space {obs_space}; want a flat Box")
    if not isinstance(action_space, gym.spaces.Discrete) or len(action_names) != int(
        action_space.n
    ):
        raise ValueError(
            f"export {algorithm}: {len(action_names)} action names for action space {action_space}"
        )
    size = int(obs_space.shape[0])
    onnx_bytes = onnx_bytes_of(policy, size, opset)
    manifest = PolicyManifest(
        name=provenance.name,
        scope=provenance.scope,
        algorithm=algorithm,
        actions=tuple(action_names),
        observation_size=size,
        observation_version=provenance.observation_version,
        env_version=provenance.env_version,
        reward_version=provenance.reward_version,
        feature_version=provenance.feature_version,
        data_window=provenance.data_window,
        seed=provenance.seed,
        trial_id=provenance.trial_id,
        normalisation=normalisation or Normalisation.identity(),
        onnx_sha256=sha256_bytes(onnx_bytes),
        opset=opset,
        input_name=INPUT_NAME,
        logits_output=LOGITS_OUTPUT,
        probs_output=PROBS_OUTPUT,
        data_hash=provenance.data_hash,
        hyperparameters=dict(provenance.hyperparameters),
        # plain strings: torch.__version__ is a TorchVersion, whose unpickling imports torch
        libraries={
            "torch": str(torch.__version__),
            "stable_baselines3": str(stable_baselines3.__version__),
        },
    )
    digest = store.put(lambda folder: write_bundle(folder, manifest, onnx_bytes))
    return ExportedPolicy(digest, manifest)


def _actor_policy(model: BaseAlgorithm, action_names: Sequence[str]) -> tuple[ActorPolicy, int]:
    """The model's actor-critic policy and its observation size, after the checks export needs."""
    policy = model.policy
    where = f"export {type(model).__name__}"
    if not isinstance(policy, ActorCriticPolicy | MaskableActorCriticPolicy):
        raise TypeError(f"{where}: policy {type(policy).__name__} is no actor-critic policy")
    obs_space, action_space = model.observation_space, model.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"{where}: observation space {obs_space}; want a flat Box")
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"{where}: action space {action_space}; want Discrete")
    if len(action_names) != int(action_space.n) or len(set(action_names)) != len(action_names):
        raise ValueError(
            f"{where}: {len(action_names)} action names {list(action_names)} for "
            f"{int(action_space.n)} actions (names must be distinct)"
        )
    return policy, int(obs_space.shape[0])


def onnx_bytes_of(policy: ActorPolicy, observation_size: int, opset: int = ONNX_OPSET) -> bytes:
    """The actor as ONNX: input ``obs`` float32 [batch, size]; outputs ``logits``, ``probs``."""
    actor = _Actor(policy).to("cpu")
    was_training = policy.training
    policy.set_training_mode(False)
    try:
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            path = Path(tmp) / "policy.onnx"
            torch.onnx.export(
                actor,
                (torch.zeros(1, observation_size, dtype=torch.float32),),
                path,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[LOGITS_OUTPUT, PROBS_OUTPUT],
                dynamic_axes={n: {0: "batch"} for n in (INPUT_NAME, LOGITS_OUTPUT, PROBS_OUTPUT)},
                opset_version=opset,
            )
            return path.read_bytes()
    finally:
        policy.set_training_mode(was_training)


def normalisation_of(vec_normalize: VecNormalize | None, size: int) -> Normalisation:
    """``VecNormalize``'s observation statistics (identity when absent or not normalising)."""
    if vec_normalize is None or not vec_normalize.norm_obs:
        return Normalisation.identity()
    rms: object = vec_normalize.obs_rms  # typed a dict by sb3; a flat Box gives one RunningMeanStd
    if not isinstance(rms, RunningMeanStd) or rms.mean.shape != (size,):
        raise ValueError(
            f"VecNormalize statistics of shape {getattr(rms, 'mean', rms)!r}; want a flat "
            f"observation of size {size}"
        )
    return Normalisation(
        VEC_NORMALIZE,
        tuple(float(v) for v in rms.mean),
        tuple(float(v) for v in rms.var),
        float(vec_normalize.clip_obs),
        float(vec_normalize.epsilon),
    )
