"""Module 14 in the main job, on real candles: the Q-learning selector chooses for a shadow
account paired with a twin on production's selector, learns from its own account's trades,
keeps its table in the database across runs, and leaves production untouched.

Three replays of the same 15 days in one home: off (it trains the members; the module is
DISABLED and says why), on (a fresh table), on again (the table restored and learnt further).
Production's decisions, orders and trades are the same in all three. The twin starts flat with
production at the replay's first candle on production's selector, so it trades exactly as
production does: the pair's one difference is the selector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.config import load_settings
from quantum_trader.status import ModuleState
from quantum_trader.status.registry import ModuleStatus

SAME = ("decisions", "signals", "strategies_chosen", "orders_sent", "trades", "metrics")
SCOPE = "qlearning/BTCUSDT,ETHUSDT/1h"


def _trades(result: RunResult) -> list[str]:
    lines = Path(result.outputs["trades"]).read_text().splitlines()
    return [line.split(",", 1)[1] for line in lines]  # trade ids start with the run id


def _status(result: RunResult) -> ModuleStatus:
    return {s.name: s for s in result.runtime.status.snapshot()}["rl_v2_qlearning"]


@pytest.mark.slow
def test_the_qlearner_trades_in_the_shadow_learns_across_runs_and_production_is_untouched(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_REPLAY_DAYS", "15")
    monkeypatch.setenv("QT_TRAIN_DAYS", "90")
    monkeypatch.setenv("QT_OFFLINE", "true")
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    monkeypatch.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    monkeypatch.setenv("QT_QLEARNING", "false")
    alone = run_main_job(load_settings())
    monkeypatch.setenv("QT_QLEARNING", "true")
    first = run_main_job(load_settings())
    second = run_main_job(load_settings())

    off = _status(alone)
    assert (
        off.state is ModuleState.DISABLED and off.reason == "disabled by config: QT_QLEARNING=false"
    )
    assert "qlearning_shadow" not in alone.summary
    for run in (first, second):
        for key in SAME:
            assert run.summary[key] == alone.summary[key], key
        assert _trades(run) == _trades(alone)

    shadow: dict[str, Any] = first.summary["qlearning_shadow"]
    pair, done = shadow["pair"], shadow["this_run"]
    assert pair["candles"] > 300
    assert pair["challenger"]["trades"] > 0, "the Q-learner's account never traded"
    # the twin is production's decision path from the same start: it trades as production did
    assert pair["twin"]["trades"] == alone.summary["trades"]
    assert pair["twin"]["equity"] == pytest.approx(alone.summary["metrics"]["final_equity"])
    assert pair["sharpe_difference"] is not None and pair["low"] <= pair["high"]
    on = _status(first)
    assert on.state is ModuleState.ACTIVE and "vs regime_rules: selector:qlearning" in on.reason
    counters = on.counters
    assert counters["decisions"] == done["decisions"] == first.summary["decisions"]
    assert counters["explorations"] > 0 and counters["updates"] > 0 and counters["saves"] > 0
    assert counters["shadow_trades"] == pair["challenger"]["trades"]
    assert counters["trades_learnt"] == pair["challenger"]["trades"]  # its own trades only
    assert counters["shadow_votes_prepared"] > 0
    assert sum(counters.get(f"selected_{s}", 0) > 0 for s in ("TrendFollowing", "Breakout")) == 2

    # its choices while flat are the off-policy log; each trade of its account opened at one
    offpolicy = shadow["offpolicy"]
    assert 0 < offpolicy["choices"] == counters["offpolicy_choices"] < counters["decisions"]
    assert offpolicy["opened"] == pair["challenger"]["trades"]
    rules = offpolicy["targets"]["regime_rules"]  # the only target with the agents off
    assert list(offpolicy["targets"]) == ["regime_rules"] and 0 < rules["agreement"] < 1
    assert rules["ips"]["decisions"] == offpolicy["choices"] and rules["dr"] is not None
    assert "off-policy over" in on.reason and "regime_rules IPS" in on.reason

    # saved at the stop, restored by the next run, which goes on learning from it
    learnt = shadow["table"]["updates"]
    assert learnt == done["updates"] > 0
    again = _status(second).counters
    assert again["restored_updates"] == learnt
    assert again["restored_after_replay_start"] == 1  # the same candles: in-sample, and says so
    stored = SqlQTableRepository(second.runtime.db).load(SCOPE)
    assert stored is not None
    assert stored.updates == second.summary["qlearning_shadow"]["table"]["updates"] > learnt
