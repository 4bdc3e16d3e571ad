"""RL policies in the model registry: their line, their lineage, and loading one by stage.

A policy line is ``ModelKey(<policy name>, <symbol or "global">, 0)`` — e.g.
``ppo_selector/BTCUSDT/h0`` — with lineage of kind ``"policy"``: the registry, its stages
(CANDIDATE → SHADOW → CANARY → PRODUCTION, rollback), its audit trail and its tables serve
policies unchanged. Horizon 0: a policy acts on the current candle and has no label horizon.
The version's artifact hash is the bundle's address in the artifact store. Nothing here imports
torch (exporting is ``rl/export.py``).

A PRODUCTION policy whose bundle is refused (altered, missing, unreadable) is served by the
line's previous production version, as a model's is (``learning/serving.py``): the newest one
still restorable (``production_stack``) that reads the same observation and chooses among the
same actions, whose own bundle passes its checks (:func:`serving_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import (
    BundleSource,
    PolicyBundleError,
    PolicyManifest,
    load_bundle,
)
from quantum_trader.domain.time import fmt
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import (
    ModelKey,
    ModelRegistry,
    ModelVersion,
    Stage,
    production_stack,
)

SELECTOR_POLICY = "ppo_selector"
POLICY_HORIZON = 0


def trained_after(version: ModelVersion, start: int) -> str | None:
    """Why ``version`` (a policy) would look ahead served from engine time ``start`` (None: it
    would not): it was trained after that time, on candles a replay from ``start`` trades
    again (a run started again replays from its start). Unknown training time: it would not."""
    trained_at = version.lineage.trained_at
    if trained_at is None or trained_at <= start:
        return None
    return f"trained at {fmt(trained_at)}, after this replay's start {fmt(start)}"


def policy_key(scope: str, name: str = SELECTOR_POLICY) -> ModelKey:
    """The registry line of policy ``name`` for a symbol (or ``"global"``).

    >>> str(policy_key("BTCUSDT"))
    'ppo_selector/BTCUSDT/h0'
    """
    return ModelKey(name, scope, POLICY_HORIZON)


def policy_lineage(
    manifest: PolicyManifest,
    *,
    metrics: Mapping[str, float] | None = None,
    trained_at: int | None = None,
    extra: Mapping[str, object] | None = None,
) -> Lineage:
    """A bundle's manifest as registry lineage (``metrics``: its held-out evaluation;
    ``extra``: more detail, e.g. the address of the weights a later training continues from)."""
    detail = {
        "algorithm": manifest.algorithm,
        "trial_id": manifest.trial_id,
        "seed": manifest.seed,
        "actions": list(manifest.actions),
        "observation_size": manifest.observation_size,
        "observation_version": manifest.observation_version,
        "env_version": manifest.env_version,
        "reward_version": manifest.reward_version,
        "feature_version": manifest.feature_version,
        "normalisation": manifest.normalisation.kind,
        "opset": manifest.opset,
        **dict(extra or {}),
    }
    return Lineage(
        POLICY_KIND,
        manifest.name,
        manifest.scope,
        POLICY_HORIZON,
        manifest.data_window,
        manifest.data_hash,
        {**manifest.hyperparameters, "seed": manifest.seed},
        dict(metrics or {}),
        trained_at,
        detail,
    )


def register_policy(
    registry: ModelRegistry,
    digest: str,
    manifest: PolicyManifest,
    *,
    actor: str,
    reason: str,
    metrics: Mapping[str, float] | None = None,
    trained_at: int | None = None,
    extra: Mapping[str, object] | None = None,
) -> ModelVersion:
    """A new CANDIDATE version of the manifest's policy line, pointing at bundle ``digest``."""
    lineage = policy_lineage(manifest, metrics=metrics, trained_at=trained_at, extra=extra)
    return registry.register(lineage, digest, actor=actor, reason=reason)


def load_policy(
    registry: ModelRegistry,
    store: BundleSource,
    key: ModelKey,
    *,
    stage: Stage = Stage.PRODUCTION,
) -> OnnxPolicy | None:
    """The policy of ``key`` in ``stage`` (the production pointer's, else the newest there),
    verified and ready to serve; None when the line has no version in that stage.

    A bundle that fails its checks raises ``PolicyBundleError`` naming the file: the caller
    serves its fallback and shows why (a refused policy is never silently replaced).
    """
    if stage is Stage.PRODUCTION:
        chosen = registry.production(key)
    else:
        found = [v for v in registry.versions(key) if v.stage is stage]
        chosen = found[-1] if found else None
    if chosen is None:
        return None
    if chosen.lineage.kind != POLICY_KIND:
        raise TypeError(f"{key} v{chosen.version} is a {chosen.lineage.kind!r}, not a policy")
    bundle = load_bundle(store, chosen.artifact_hash)
    return OnnxPolicy(bundle, registry_version=chosen.version)


#: what says that two policy versions read the same observation and choose among the same
#: actions (their lineage's detail, written from the manifest by :func:`policy_lineage`)
SAME_INPUTS = ("actions", "observation_size", "observation_version", "feature_version")


@dataclass(frozen=True, slots=True)
class ServedPolicy:
    """The policy that serves for a version: ``policy`` None when none can (``refusal`` why);
    ``refused`` the version whose bundle was refused, when an earlier one serves in its
    place or none does."""

    policy: OnnxPolicy | None
    version: ModelVersion | None
    refused: int | None = None
    refusal: str = ""


def serving_policy(
    registry: ModelRegistry, store: BundleSource, chosen: ModelVersion
) -> ServedPolicy:
    """``chosen``'s policy, verified; when its bundle is refused and ``chosen`` is the line's
    PRODUCTION version, the newest earlier production version of the line that is still
    restorable, reads the same observation and actions, and whose bundle passes its checks."""
    try:
        return ServedPolicy(_policy(store, chosen), chosen)
    except PolicyBundleError as exc:
        refusal = f"{chosen.key} v{chosen.version}: {exc}"
    if chosen.stage is Stage.PRODUCTION:
        for number in reversed(production_stack(registry.history(chosen.key))):
            earlier = registry.get(chosen.key, number)
            if number == chosen.version or earlier is None or not _same_inputs(earlier, chosen):
                continue
            try:
                return ServedPolicy(_policy(store, earlier), earlier, chosen.version, refusal)
            except PolicyBundleError:
                continue  # damaged too: look further back
    return ServedPolicy(None, None, chosen.version, refusal)


def _policy(store: BundleSource, version: ModelVersion) -> OnnxPolicy:
    if version.lineage.kind != POLICY_KIND:
        raise PolicyBundleError(f"{version.key} v{version.version} is not a policy")
    return OnnxPolicy(load_bundle(store, version.artifact_hash), registry_version=version.version)


def _same_inputs(a: ModelVersion, b: ModelVersion) -> bool:
    da, db = a.lineage.detail, b.lineage.detail
    return all(da.get(k) == db.get(k) for k in SAME_INPUTS) and a.lineage.kind == POLICY_KIND
