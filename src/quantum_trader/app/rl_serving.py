"""Modules 13 and 15 in production's decision path: the PPO policy selector in front of the
configured selector, the RL sizer in front of the configured sizer (``app/rl_agents.py`` runs
the rest of modules 13 and 16). Each serves its line's PRODUCTION policy; with none, the
configured one decides exactly as it would alone, and the module counts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from quantum_trader.agents.observation import selector_observation
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import BundleSource
from quantum_trader.agents.policy_selector import PolicySelector
from quantum_trader.agents.rl_sizer import RLSizer
from quantum_trader.agents.sizing_observation import sizing_observation
from quantum_trader.config.settings import Settings
from quantum_trader.engine.engine import BarHandler, BarSkipper
from quantum_trader.learning.policies import policy_key, serving_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.observability.logging import get_logger
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.rl.daemon import PolicyTrainer
from quantum_trader.rl.policy_canary import PolicyCanary
from quantum_trader.status.registry import ModuleHandle, ModuleState
from quantum_trader.strategy.selector import StrategySelector
from quantum_trader.strategy.sizing import PositionSizer

log = get_logger(__name__)
Canary = TypeVar("Canary", bound=PolicyCanary)

MODULE = "rl_meta_strategy"
SIZING_MODULE = "rl_position_sizing"
#: the RL sizer's registry line (``rl_sizer/global/h0``)
SIZER_POLICY = "rl_sizer"


def production_selector(
    settings: Settings, base: StrategySelector, handle: ModuleHandle | None
) -> StrategySelector:
    """Production's selector (``app/compose.py``): ``base`` behind the PPO policy selector when
    ``QT_RL_AGENTS`` is on (no policy yet: ``base`` decides), else ``base`` itself."""
    if not settings.rl_agents:
        return base
    return PolicySelector(None, selector_observation, fallback=base, handle=handle)


def production_sizer(
    settings: Settings,
    base: PositionSizer,
    handle: ModuleHandle | None,
    registry: ModelRegistry,
    store: BundleSource,
) -> PositionSizer:
    """Production's sizer (``app/compose.py``): ``base`` behind the RL sizer when
    ``RL_SIZING_ENABLED`` is on, serving the ``rl_sizer`` line's PRODUCTION policy (none: ``base``
    decides as alone, counted), else ``base`` itself. A stored policy that does not load is
    refused with the reason in the module's status (DEGRADED); the line's previous production
    policy sizes in its place (``learning/policies.serving_policy``), else ``base``."""
    if not settings.rl_sizing_enabled:
        return base
    production = registry.production(policy_key("global", SIZER_POLICY))
    served = None if production is None else serving_policy(registry, store, production)
    policy = None if served is None else served.policy
    if served is not None and served.refused is not None:
        log.error(
            "rl_sizer.policy_refused",
            refused=served.refused,
            serving=None if served.version is None else served.version.version,
            error=served.refusal,
        )
        if handle is not None:
            instead = base.name if policy is None else f"v{policy.registry_version} (before it)"
            handle.set_state(
                ModuleState.DEGRADED,
                f"its PRODUCTION policy was refused ({served.refusal}): {instead} sizes",
            )
    elif policy is None and handle is not None:
        handle.set_state(
            ModuleState.ACTIVE, f"no {SIZER_POLICY} policy in PRODUCTION: {base.name} sizes"
        )
    log.info("rl_sizer.serving", policy=None if policy is None else policy.version)
    return RLSizer(policy, sizing_observation, base=base, handle=handle)


def policy_canary(
    kind: type[Canary],
    trainer: PolicyTrainer,
    handle: ModuleHandle,
    pair: tuple[Portfolio, Portfolio],
    follow: Callable[[BarHandler, BarSkipper], object],
    *,
    on_serving: Callable[[Stage, OnnxPolicy], object],
    on_release: Callable[[], object],
    listeners: list[Callable[[Stage, OnnxPolicy], object]],
    seed: int,
    control: str,
) -> Canary:
    """A policy line's canary rule (``rl/policy_canary.py``) over its shadow pair's sub-ledgers
    (twin, challenger), told of CANARY promotions by the line's ``listeners``, fed by
    ``follow`` (the session's, after the pair) as handler and fast-forward side; a promoted one
    is served to production through ``on_serving``. The caller hands it to production's
    decider as its route."""
    twin, challenger = pair
    canary = kind(
        trainer.registry, trainer.key, twin, challenger, control=control, seed=seed,
        handle=handle, on_release=on_release,
        serve_production=lambda policy: on_serving(Stage.PRODUCTION, policy),
    )  # fmt: skip
    listeners.append(canary.on_stage)
    follow(canary.on_bar, canary)
    return canary


def resume_canary(
    canary: PolicyCanary | None,
    trainer: PolicyTrainer,
    on_serving: Callable[[Stage, OnnxPolicy], object],
    start: int,
) -> None:
    """At the run's start, before the line's bootstrap: a CANARY version an earlier run left is
    served again through the line's ``on_serving`` (``rl/policy_canary.PolicyCanary.resume``),
    so the shadow account serves it as its evidence (the bootstrap's SHADOW landing then waits),
    and the line's listeners admit it to the canary rule; one unsafe to serve is retired there.
    Without a canary rule (no shadow pair) a CANARY found is left as it is."""
    if canary is None:
        return
    policy = canary.resume(start, trainer.store)
    if policy is not None:
        on_serving(Stage.CANARY, policy)


def still_in_shadow(trainer: PolicyTrainer, policy: OnnxPolicy) -> bool:
    """Whether ``policy`` (a SHADOW landing held while its line's canary ran) is still its
    line's SHADOW version, so it may be served now the canary ended."""
    number = policy.registry_version
    return number is not None and trainer.registry.get(trainer.key, number).stage is Stage.SHADOW
