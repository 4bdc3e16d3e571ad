"""Modules 13 and 16 in the main job, on real candles: the training daemon trains the PPO
selector before the replay and every day of it in its worker, judges each policy on held-out
candles, keeps the ones that do not beat the rule selector in SHADOW, where a shadow account
trades them; production's selector falls back to the rules meanwhile, so production is
untouched. ``QT_SELECTOR=ppo`` serves the policy in production itself.

Three replays of the same 10 days in one home: agents off (it trains the members), on (a first
policy is trained, then one a day), and on with ``QT_SELECTOR=ppo`` (the stored policy is
reused and decides production's strategies).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.learning.policies import policy_key
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.status import ModuleState
from quantum_trader.status.registry import ModuleStatus

SAME = ("decisions", "signals", "strategies_chosen", "orders_sent", "trades", "metrics")


def _trades(result: RunResult) -> list[str]:
    lines = Path(result.outputs["trades"]).read_text().splitlines()
    return [line.split(",", 1)[1] for line in lines]  # trade ids start with the run id


def _status(result: RunResult, name: str) -> ModuleStatus:
    return {s.name: s for s in result.runtime.status.snapshot()}[name]


@pytest.mark.slow
def test_the_ppo_selector_trains_serves_in_the_shadow_and_production_is_untouched(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_REPLAY_DAYS", "10")
    monkeypatch.setenv("QT_TRAIN_DAYS", "90")
    monkeypatch.setenv("QT_OFFLINE", "true")
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    monkeypatch.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    monkeypatch.setenv("QT_QLEARNING", "false")
    monkeypatch.setenv("QT_RL_BOOTSTRAP_EPISODES", "2")
    alone = run_main_job(load_settings())
    monkeypatch.setenv("QT_RL_AGENTS", "true")
    monkeypatch.setenv("QT_QLEARNING", "true")  # its log judges the PPO policy off-policy
    first = run_main_job(load_settings())
    monkeypatch.setenv("QT_QLEARNING", "false")

    for name in ("rl_meta_strategy", "rl_v3_training"):
        off = _status(alone, name)
        assert off.state is ModuleState.DISABLED and "QT_RL_AGENTS=false" in off.reason
    # production is untouched while no policy is in PRODUCTION: the rules decide
    for key in SAME:
        assert first.summary[key] == alone.summary[key], key
    assert _trades(first) == _trades(alone)
    selector = _status(first, "rl_meta_strategy")
    assert selector.state is ModuleState.ACTIVE, selector.reason
    counters = selector.counters
    assert counters["decided_by_fallback"] == first.summary["decisions"] > 0
    assert "decided_by_policy" not in counters
    assert counters["shadow_candles"] > 200 and counters["policies_served_shadow"] >= 2
    assert "in SHADOW" in selector.reason and "shadow vs regime_rules" in selector.reason
    training = _status(first, "rl_v3_training")
    assert training.state is ModuleState.ACTIVE, training.reason
    runs = training.counters["training_runs"]
    assert runs >= 9  # the first policy, then one a day of the 10 (the last lands after the end)
    assert (
        training.counters["episodes"] >= 2 * runs and training.counters.get("runs_failed", 0) == 0
    )
    assert "held-out 168 candles" in training.reason
    summary = first.summary["rl_agents"]
    assert summary["training"]["training_runs"] == runs and summary["shadow_pair"] is not None
    # every decision of both accounts is logged with its probability and the policy version
    rows = list(csv.DictReader(Path(summary["decision_log"]).read_text().splitlines()))
    assert len(rows) == summary["decisions_logged"] == 2 * first.summary["decisions"]
    shadow_rows = [r for r in rows if r["account"] == "shadow" and r["decided_by"] == "policy"]
    assert shadow_rows and all(r["policy_version"].startswith("ppo_selector@") for r in shadow_rows)
    assert all(0 < float(r["propensity"]) <= 1 and r["probabilities"] for r in shadow_rows)
    assert {r["decided_by"] for r in rows if r["account"] == "production"} == {"fallback"}

    # off-policy, from the exploring Q-learner's log: the PPO shadow policy next to the rules
    offpolicy = first.summary["qlearning_shadow"]["offpolicy"]
    assert list(offpolicy["targets"]) == ["regime_rules", "ppo_shadow"]
    ppo = offpolicy["targets"]["ppo_shadow"]
    assert ppo["ips"]["decisions"] == offpolicy["choices"] > 0 and ppo["dr"] is not None
    assert "ppo_shadow IPS" in _status(first, "rl_v2_qlearning").reason

    rt = first.runtime
    registry = ModelRegistry(SqlRegistryRepository(rt.db), SimulatedClock(0))
    versions = registry.versions(policy_key("global"))
    assert len(versions) == runs
    assert registry.production(policy_key("global")) is None
    assert [v.stage for v in versions].count(Stage.SHADOW) == 1  # the newest; the rest retired
    assert versions[0].lineage.detail["warm_start"] is False
    assert all(v.lineage.detail["warm_start"] is True for v in versions[1:])
    assert all("held_out_return" in v.lineage.metrics for v in versions)
    trials = [t for t in SqlTrialLedger(rt.db).trials("validation") if "ppo_selector" in t.name]
    assert len(trials) == runs

    # module 15: the sizer's line is trained beside it; its SHADOW policy sizes a shadow
    # account's entries (too few trades in 10 days to promote it), fixed-fractional production's
    sizing = _status(first, "rl_position_sizing")
    assert sizing.state is ModuleState.ACTIVE and "in SHADOW" in sizing.reason, sizing.reason
    assert sizing.counters["decided_by_fallback"] > 0 and "decided_by_policy" not in sizing.counters
    assert sizing.counters["shadow_accounts_started"] == 2
    assert sizing.counters["shadow_entries_sized"] > 0 and "shadow account:" in sizing.reason
    assert 0 <= sizing.counters["shadow_mean_fraction_bp"] <= 10_000
    assert sizing.counters["twin_trades"] == first.summary["trades"]  # the twin is production
    sizer_runs = training.counters["sizer_training_runs"]
    sizer_versions = registry.versions(policy_key("global", "rl_sizer"))
    assert sizer_runs >= 2 and len(sizer_versions) == sizer_runs
    assert registry.production(policy_key("global", "rl_sizer")) is None
    assert all("held_out_return" in v.lineage.metrics for v in sizer_versions)

    # the operator's explicit choice: the stored policy decides production's strategies
    monkeypatch.setenv("QT_SELECTOR", "ppo")
    served = run_main_job(load_settings())
    chosen = _status(served, "rl_meta_strategy").counters
    assert chosen["decided_by_policy"] == served.summary["decisions"] > 0
    # the stored SHADOW policy was trained during the first run, after this replay's start:
    # served from the start it would look ahead, so it is retired and a first policy trained
    # anew before the replay (not warm-started from it); the later ones continue that one
    key = policy_key("global")
    assert registry.get(key, runs).stage is Stage.RETIRED
    assert "after this replay's start" in [c.reason for c in registry.history(key)
                                           if c.version == runs][-1]  # fmt: skip
    again = registry.versions(key)[runs:]
    assert again and again[0].lineage.detail["warm_start"] is False
    assert all(v.lineage.detail["warm_start"] is True for v in again[1:])
    assert _status(served, "rl_v3_training").counters["looked_ahead_retired"] >= 1
