"""Component configs are built from Settings in the app layer, not by the modules themselves."""

from __future__ import annotations

import pytest

from quantum_trader.app.configs import ensemble_config, intelligence_config, risk_config
from quantum_trader.config import load_settings
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig


def test_ensemble_config_takes_the_enabled_models_and_the_consensus(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(ensemble_models=["xgb", "nhits"], min_consensus=1)
    config = ensemble_config(settings)
    assert (config.models, config.min_consensus, config.threshold) == (("xgb", "nhits"), 1, 0.4)


def test_intelligence_config_switches_each_module_and_says_why(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(enable_drift_detection=False)
    config = intelligence_config(settings, state_prefix="intelligence/run-1")
    assert config.enabled == {
        "memory_states": True,
        "reinforcement": True,
        "drift_detection": False,
        "covariate_shift": True,
    }
    assert config.reasons["drift_detection"] == "ENABLE_DRIFT_DETECTION=false"
    assert config.state_prefix == "intelligence/run-1"


def test_risk_config_takes_the_reducing_cooldown(clean_env: pytest.MonkeyPatch) -> None:
    assert risk_config(load_settings()).reducing_cooldown_ms == 72 * MS_PER_HOUR
    clean_env.setenv("QT_REDUCING_COOLDOWN_HOURS", "1.5")
    config = risk_config(load_settings())
    assert config.reducing_cooldown_ms == 90 * 60_000
    # every other limit keeps its default
    assert config == RiskConfig(reducing_cooldown_ms=90 * 60_000)
