"""Module 13's place in production's decision path: the PPO policy selector in front of the
configured selector (``app/rl_agents.py`` runs the rest of modules 13 and 16)."""

from __future__ import annotations

from quantum_trader.agents.observation import selector_observation
from quantum_trader.agents.policy_selector import PolicySelector
from quantum_trader.config.settings import Settings
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.selector import StrategySelector

MODULE = "rl_meta_strategy"


def production_selector(
    settings: Settings, base: StrategySelector, handle: ModuleHandle | None
) -> StrategySelector:
    """Production's selector (``app/compose.py``): ``base`` behind the PPO policy selector when
    ``QT_RL_AGENTS`` is on (no policy yet: ``base`` decides), else ``base`` itself."""
    if not settings.rl_agents:
        return base
    return PolicySelector(None, selector_observation, fallback=base, handle=handle)
