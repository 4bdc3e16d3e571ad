"""Determinism (issue 22, Part B item 10): the same seed gives the same event-log hash three
times, with every learning module on.

The main job replays a short synthetic market (xgb and lgbm, two symbols) with the intelligence
modules, the meta strategy controller, continuous learning (a scheduled retraining every engine
day, each fit in the daemon's spawned worker, then the validation gate) and shadow trading (a
challenger in SHADOW from the start, with its twin's accounts), the Q-learner's shadow
pair (its table restored from the prepared home) and the PPO agents (a policy trained each
engine day in their worker, judged, registered and traded in a shadow account; the policies'
bundles compared byte for byte) all on. The home is prepared once
— members trained, the challenger registered — and copied, so each run starts from the same
state; each runs with the same run id (the log's hash covers it). The hash is the session's
event log (``engine/checkpoint.py`` ``EventLog``: every bus event, type, time, source and
payload, in a hash chain); the shadow accounts trade on private buses, so their figures are
compared too, and the ledger.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.clock.clock import WallClock
from quantum_trader.config import load_settings
from quantum_trader.learning.challenger_figures import BUCKET_PREFIX, VOTE_NS
from quantum_trader.learning.policies import policy_key
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage

RUNS = 3
ENV = {
    "QT_REPLAY_DAYS": "4",
    "QT_TRAIN_DAYS": "30",
    "QT_SEED": "11",
    "QT_OFFLINE": "true",
    "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
    # a scheduled retraining of every line each engine day, looked for every engine hour
    "QT_RETRAIN_SCHEDULE_DAYS": "1",
    "QT_RETRAIN_MIN_GAP_HOURS": "0",
    "QT_RETRAIN_CHECK_MINUTES": "60",
    # the PPO agents: the first policy trained in the template, then one a day in the replays,
    # each in the agents' worker, judged on a held-out day, and traded in a shadow account
    "QT_RL_AGENTS": "true",
    "QT_RL_BOOTSTRAP_EPISODES": "2",
    "QT_RL_TRAIN_DAYS": "31",
    "QT_RL_HELD_OUT_DAYS": "1",
}


def _prepare(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train the members (learning off: the bootstrap alone), then put a copy of one champion
    in SHADOW, so shadow trading has a challenger from the replay's first candle."""
    monkeypatch.setenv("QT_HOME", str(home))
    monkeypatch.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    trained = run_main_job(load_settings(), synthetic=True, write_report=False)
    registry = ModelRegistry(SqlRegistryRepository(trained.runtime.db), WallClock())
    key = ModelKey("xgb", "SYNBTCUSDT", trained.runtime.settings.label_horizon)
    champion = registry.production(key)
    assert champion is not None
    twin = registry.register(
        champion.lineage, champion.artifact_hash, actor="test", reason="a challenger to shadow"
    )
    registry.promote(key, twin.version, actor="test", reason="shadow it", to=Stage.SHADOW)
    trained.runtime.db.dispose()
    monkeypatch.setenv("CONTINUOUS_LEARNING_ENABLED", "true")


#: counters that measure the machine, not the replay
WALL_CLOCK_COUNTERS = (VOTE_NS, BUCKET_PREFIX)


def _fingerprint(result: RunResult) -> dict[str, object]:
    assert result.session is not None
    statuses = {s.name: s.counters for s in result.runtime.status.snapshot()}
    return {
        "event_log_hash": result.session.event_log_hash,
        "ledger_digest": result.session.ledger_digest,
        "trades": result.summary["trades"],
        "shadow_trading": result.summary.get("shadow_trading"),
        "continuous_learning": statuses.get("continuous_learning"),
        # less the challengers' vote times, wall-clock figures (learning/challenger_figures.py)
        "shadow_models": {
            c: n
            for c, n in (statuses.get("shadow_models") or {}).items()
            if not c.startswith(WALL_CLOCK_COUNTERS)
        },
        "qlearning_shadow": result.summary.get("qlearning_shadow"),
        "rl_v2_qlearning": statuses.get("rl_v2_qlearning"),
        # the PPO agents' figures (less a wall-clock gauge), and their decision log by content
        # (its path is the home's)
        "rl_agents": {
            k: {c: n for c, n in v.items() if not c.endswith("last_run_seconds")}
            if k == "training"
            else v
            for k, v in result.summary["rl_agents"].items()
            if k != "decision_log"
        },
        "decision_log": hashlib.sha256(
            Path(result.summary["rl_agents"]["decision_log"]).read_bytes()
        ).hexdigest(),
        # the policies' bundles and weights, byte for byte (their addresses are content hashes)
        "policies": [
            (v.version, v.stage.value, v.artifact_hash, v.lineage.detail.get("state_digest"))
            for v in ModelRegistry(SqlRegistryRepository(result.runtime.db), WallClock()).versions(
                policy_key("global")
            )
        ],
    }


@pytest.mark.slow
def test_the_same_seed_gives_the_same_event_log_hash_with_learning_on(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in ENV.items():
        clean_env.setenv(key, value)
    template = tmp_path / "template"
    _prepare(template, clean_env)
    prints = []
    for i in range(RUNS):
        home = tmp_path / f"run{i}"
        shutil.copytree(template, home)
        clean_env.setenv("QT_HOME", str(home))
        result = run_main_job(load_settings(), synthetic=True, write_report=False, run_id="same")
        prints.append(_fingerprint(result))
        result.runtime.db.dispose()
    first = prints[0]
    # the modules did their work, else equal hashes prove little
    learning = first["continuous_learning"]
    assert isinstance(learning, dict) and learning["trainings_finished"] > 0, learning
    shadow = first["shadow_trading"]
    assert isinstance(shadow, list) and shadow and shadow[0]["challenger"]["trades"] > 0, shadow
    qlearning = first["qlearning_shadow"]
    assert isinstance(qlearning, dict) and qlearning["this_run"]["updates"] > 0, qlearning
    agents = first["rl_agents"]
    assert isinstance(agents, dict) and agents["training"]["training_runs"] >= 2, agents
    policies = first["policies"]
    assert isinstance(policies, list) and len(policies) >= 3, policies  # the template's + runs
    for other in prints[1:]:
        assert other == first
