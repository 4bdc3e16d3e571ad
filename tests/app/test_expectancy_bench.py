"""The decision path stands a benched strategy aside: on a replay where TrendFollowing is the
only strategy and the bench is easy to earn, once it is benched in a regime no order is sent
for it there until the bench ends — the pipeline chose Neutral instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.tables_execution import exec_orders
from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings
from quantum_trader.domain.decisions import DecisionRef


@pytest.mark.slow
def test_a_benched_strategy_is_replaced_by_neutral_in_its_regime(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in {
        "QT_HOME": str(tmp_path / "home"),
        "QT_REPLAY_DAYS": "20",
        "QT_TRAIN_DAYS": "60",
        "QT_SELECTOR": "fixed:TrendFollowing",  # every decision asks for TrendFollowing
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb",
        "AI_ENGINE_MIN_CONSENSUS": "1",
        "ENABLE_REINFORCEMENT": "false",
        "QT_ENTRY_COST_GATE": "false",
        # benched on little evidence, for the rest of the replay
        "QT_EXPECTANCY_MIN_TRADES": "3",
        "QT_EXPECTANCY_ALPHA": "0.45",
        "QT_EXPECTANCY_BENCH_HOURS": "8760",
    }.items():
        clean_env.setenv(key, value)
    result = run_main_job(load_settings(), synthetic=True, write_report=False)
    rt = result.runtime
    benches = [c for c in SqlRiskRepository(rt.db).bench_changes() if c.benched]
    assert benches, "nothing was benched: the test proves nothing"
    strategies = {s.name: s for s in rt.status.snapshot()}["strategies"]
    substituted = strategies.counters["benched_substitutions"]
    assert substituted == result.summary["benched_substitutions"] > 0
    chosen = result.summary["strategies_chosen"]
    # the selector asked for TrendFollowing every time; Neutral came from the bench alone
    assert strategies.counters["selected_TrendFollowing"] == sum(chosen.values())
    assert chosen["Neutral"] == substituted

    with rt.db.connect() as conn:
        rows = conn.execute(select(exec_orders.c.decision_json)).all()
    refs = [DecisionRef.from_dict(json.loads(r[0])) for r in rows if r[0] is not None]
    assert refs and {ref.regime for ref in refs} - {""}, "orders carry the regime they chose in"
    for bench in benches:
        assert bench.until is not None
        during = [
            ref
            for ref in refs
            if ref.regime == bench.regime
            and bench.at <= int(ref.decision_id.split("@")[1]) < bench.until
        ]
        # anything sent in the benched regime meanwhile was Neutral closing a position
        assert all(ref.strategy == "Neutral" for ref in during), (bench, during)
    # what the tracker knew at the end is saved under the run's id (not restored by a new run)
    saved = SqlIntelligenceStateRepository(rt.db).load(f"expectancy/{result.run_id}")
    assert saved is not None
    benched = {(s, r) for s, r, *_ in json.loads(saved)["benched"]}
    assert benched == {(b.strategy, b.regime) for b in benches}
