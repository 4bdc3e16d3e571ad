"""The main job end to end on a small slice of real data: train, replay, report, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables_execution import exec_orders, exec_trades
from quantum_trader.app.main_job import run_main_job
from quantum_trader.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.status import ModuleState

ALWAYS_ON = {
    "market_data",
    "bus_and_policy",
    "model_registry",
    "ensemble",
    "strategies",
    "execution",
    "portfolio",
    "backtester",
    "regime_detector",
    "meta_strategy_controller",
    "risk_safety",
    "memory_states",
    "reinforcement",
    "drift_detection",
    "covariate_shift",
    "rl_v2_qlearning",  # QT_QLEARNING: its shadow account's decisions, updates and saves
    "rl_meta_strategy",  # QT_RL_AGENTS (on here; off in the other tests: clean_env)
    "rl_v3_training",
    "rl_position_sizing",  # RL_SIZING_ENABLED: no policy in production, so the base sizes (counted)
}


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> Path:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_REPLAY_DAYS", "10")
    monkeypatch.setenv("QT_TRAIN_DAYS", "90")
    monkeypatch.setenv("QT_OFFLINE", "true")  # the replay only (live phase: test_main_job_live)
    return tmp_path / "home"


@pytest.mark.slow
def test_all_four_models_trade_through_every_module(
    env: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_RL_AGENTS", "true")
    settings = load_settings()
    # what writes interrupted by a crash leave behind is swept once the engine holds the lock
    half_file = env / "store" / "ohlcv" / ".BTCUSDT-1h.parquet.x1.tmp"
    half_file.parent.mkdir(parents=True)
    half_file.write_bytes(b"half a file")
    half_artifact = env / "artifacts" / ".incoming-x2"
    half_artifact.mkdir(parents=True)
    (half_artifact / "model.onnx").write_bytes(b"half a model")
    result = run_main_job(settings)
    rt = result.runtime
    statuses = {s.name: s for s in rt.status.snapshot()}
    assert not half_file.exists() and not half_artifact.exists()
    assert statuses["market_data"].counters["crash_leftovers_removed"] == 2

    for name in ALWAYS_ON | {"xgb", "lgbm", "nhits", "patchtst"}:
        status = statuses[name]
        assert status.state is ModuleState.ACTIVE, (name, status.reason)
        assert sum(status.counters.values()) > 0, f"{name} has no evidence: {status.counters}"
    for model in ("xgb", "lgbm", "nhits", "patchtst"):
        assert statuses[model].counters["predictions"] > 0
    # the weights the intelligence modules learn reach the decisions' votes (with equal
    # weights in the decision path this counter stays at zero)
    ensemble = statuses["ensemble"].counters
    assert ensemble["votes_weighted_unequally"] > ensemble["signals"] // 4, ensemble
    # 2 symbols × 2 tree lines + 2 global forecasters, each opened once (forecasters are shared)
    assert statuses["model_registry"].counters["production_loads"] == 6

    # every model was trained on candles before the replay, and promoted by the bootstrap rule
    registry = ModelRegistry(SqlRegistryRepository(rt.db), SimulatedClock(0))
    everything = registry.versions()
    # module 16's policies share the registry (their own lines, kind "policy")
    policies = {v.key.model for v in everything if v.lineage.kind == "policy"}
    assert policies == {"ppo_selector", "rl_sizer"}
    versions = [v for v in everything if v.lineage.kind != "policy"]
    assert {v.key.model for v in versions} == {"xgb", "lgbm", "nhits", "patchtst"}
    for v in versions:
        window = v.metadata.training_window
        assert window is not None
        if v.version == 1:  # bootstrap
            assert v.stage is Stage.PRODUCTION or registry.production(v.key) is not None
            assert window[1] < result.replay_start, (str(v.key), window)
        else:  # continuous learning, trained during the replay on what had closed by then
            assert v.created_at > result.replay_start
            assert window[1] + 5 * 3_600_000 <= v.created_at, (str(v.key), window)

    # every trade of the decision path carries the decision that opened it (typed, persisted)
    engine = rt.db
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                exec_trades.c.symbol,
                exec_trades.c.strategy,
                exec_trades.c.decision_json,
                exec_trades.c.entry_time,
            )
        ).all()
    assert rows, "the replay closed no trade"
    for traded, strategy, decision_json, entry_time in rows:
        ref = json.loads(decision_json)
        assert strategy.startswith(ref["strategy"] + ":"), (strategy, ref)
        assert ref["selector"] == "regime_rules" and ref["sizer"] == "fixed_fractional"
        symbol, at = ref["decision_id"].split("@")
        assert (
            symbol == traded and int(at) <= entry_time
        )  # decided at a close, filled at the next open
        assert set(ref["members"]) <= {"xgb@1", "lgbm@1", "nhits@1", "patchtst@1"}, ref

    # outputs, and every order persisted
    metrics = json.loads(Path(result.outputs["metrics"]).read_text())
    assert metrics["metrics"]["trade_count"] == result.summary["trades"]
    report = Path(result.outputs["report"]).read_text()
    assert len(report) > 10_000
    for shown in ("risk_decisions", "strategies_chosen", "regimes_at_end", "risk_mode"):
        assert shown in report
    # what a trader reads: titled by what produced it, against buy and hold, month by month,
    # per strategy, the risk states over time; written as UTF-8 text, not escapes
    assert f"<title>run report — {result.run_id}</title>" in report
    for shown in ("buy and hold", "Underwater", "Monthly returns", "Per-strategy attribution"):
        assert shown in report
    assert "Risk-state timeline" in report and "\\u2192" not in report and "→" in report
    summary = json.loads(Path(result.outputs["summary"]).read_text())
    assert summary["decisions"] == result.summary["decisions"] > 0
    assert summary["risk_timeline"][0][2] == "ACTIVE"  # the first decision's trading state
    with rt.db.connect() as conn:
        orders = conn.execute(select(exec_orders.c.client_order_id)).fetchall()
    assert len(orders) >= result.summary["orders_sent"]
    assert len({o[0] for o in orders}) == len(orders)


def test_a_run_id_that_cannot_name_the_runs_folder_is_refused_before_anything(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """The main job writes ``HOME/runs/RUN_ID``: a caller's ``../x`` would leave the home."""
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match=r"run id '\.\./x': use 1 to 64 letters"):
        run_main_job(load_settings(), run_id="../x")
    assert not (tmp_path / "home").exists()
