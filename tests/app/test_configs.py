"""Component configs are built from Settings in the app layer, not by the modules themselves."""

from __future__ import annotations

import pytest

from quantum_trader.app.configs import (
    ensemble_config,
    expectancy_config,
    intelligence_config,
    risk_config,
)
from quantum_trader.config import load_settings
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.strategy.expectancy import ExpectancyConfig


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


def test_expectancy_config_takes_its_settings(clean_env: pytest.MonkeyPatch) -> None:
    assert expectancy_config(load_settings()) == ExpectancyConfig()  # the defaults agree
    for key, value in {
        "QT_EXPECTANCY_WINDOW": "40",
        "QT_EXPECTANCY_MIN_TRADES": "12",
        "QT_EXPECTANCY_ALPHA": "0.05",
        "QT_EXPECTANCY_BENCH_HOURS": "48",
    }.items():
        clean_env.setenv(key, value)
    config = expectancy_config(load_settings())
    assert (config.window, config.min_trades, config.alpha, config.bench_ms) == (
        40,
        12,
        0.05,
        48 * MS_PER_HOUR,
    )


def test_the_rl_environment_gates_entries_as_production_does(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """One decision path: the environment the PPO policies train in prices entries with
    production's cost gate (``app/compose.py`` ``entry_gate``), and drops it when it is off."""
    from quantum_trader.app.compose import entry_gate
    from quantum_trader.app.rl_agents import env_config

    settings = load_settings(entry_margin_bps=7.0)
    gate = entry_gate(settings)
    env = env_config(settings, warm_up=200).parts
    assert gate is not None and env.entry_gate == gate.config
    assert env.entry_gate.margin_bps == 7.0 and env.label_dead_zone == gate.dead_zone
    off = load_settings(entry_cost_gate=False)
    assert entry_gate(off) is None and env_config(off, warm_up=200).parts.entry_gate is None
