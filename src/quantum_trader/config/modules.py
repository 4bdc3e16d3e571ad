"""Which setting switches which module: the single table status and docs read from."""

from __future__ import annotations

from quantum_trader.config.settings import KNOWN_MODELS, Settings, env_name

#: module name → the boolean setting that enables it (modules absent here are always on).
MODULE_SWITCHES: dict[str, str] = {
    "memory_states": "enable_memory_states",
    "reinforcement": "enable_reinforcement",
    "drift_detection": "enable_drift_detection",
    "covariate_shift": "enable_covariate_shift",
    "meta_strategy_controller": "meta_strategy_enabled",
    "rl_position_sizing": "rl_sizing_enabled",
    "regime_detector": "regime_detection_enabled",
    "continuous_learning": "continuous_learning_enabled",
    "shadow_models": "model_supervisor_enabled",
    "rl_v2_qlearning": "qlearning",
    "rl_meta_strategy": "rl_agents",
    "rl_v3_training": "rl_agents",
    "ab_testing": "ab_testing",
}

#: model modules, enabled by membership in AI_ENGINE_ENSEMBLE_MODELS.
MODEL_MODULES = KNOWN_MODELS


def module_enabled(settings: Settings, module: str) -> tuple[bool, str]:
    """Whether config enables ``module``, and the reason in words naming the variable."""
    if module in MODEL_MODULES:
        on = module in settings.ensemble_models
        models = ",".join(settings.ensemble_models)
        verb = "includes" if on else "does not include"
        return on, f"AI_ENGINE_ENSEMBLE_MODELS={models} {verb} {module}"
    field = MODULE_SWITCHES.get(module)
    if field is None:
        return True, "always on"
    on = bool(getattr(settings, field))
    return on, f"{env_name(field)}={'true' if on else 'false'}"
