"""Shadow trading in the main job, on real candles: a challenger's account and its champion
twin trade beside production without touching it.

The first run trains the members. A copy of xgb/BTCUSDT's production version is then put in
SHADOW: the challenger serves exactly what the champion serves, so its account and the twin's
must trade identically, order for order (the pairing has no other difference), and they must
trade at all (else "identical" proves nothing). The same replay with shadow trading off must
leave production's decisions, orders and trades exactly as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.clock.clock import WallClock
from quantum_trader.config import load_settings
from quantum_trader.experiments.creators import creator_of
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage

SAME = ("decisions", "signals", "strategies_chosen", "orders_sent", "trades", "metrics")


def _trades(result: RunResult) -> list[str]:
    lines = Path(result.outputs["trades"]).read_text().splitlines()
    return [line.split(",", 1)[1] for line in lines]  # trade ids start with the run id


def _shadow_twin(result: RunResult) -> int:
    """Register a copy of xgb/BTCUSDT's production version and put it in SHADOW."""
    registry = ModelRegistry(SqlRegistryRepository(result.runtime.db), WallClock())
    key = ModelKey("xgb", "BTCUSDT", result.runtime.settings.label_horizon)
    champion = registry.production(key)
    assert champion is not None
    twin = registry.register(
        champion.lineage, champion.artifact_hash, actor="test", reason="the champion's twin"
    )
    registry.promote(key, twin.version, actor="test", reason="shadow it", to=Stage.SHADOW)
    return twin.version


@pytest.mark.slow
def test_a_twin_challenger_trades_as_its_twin_and_production_is_untouched(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_REPLAY_DAYS", "20")
    monkeypatch.setenv("QT_TRAIN_DAYS", "90")
    monkeypatch.setenv("QT_OFFLINE", "true")
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    # no retraining: the one challenger is the twin put in the shadow below
    monkeypatch.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    trained = run_main_job(load_settings())
    version = _shadow_twin(trained)

    shadowed = run_main_job(load_settings())
    monkeypatch.setenv("QT_SHADOW_TRADING", "false")
    alone = run_main_job(load_settings())

    pairs: list[dict[str, Any]] = shadowed.summary["shadow_trading"]
    assert [(p["line"], p["version"]) for p in pairs] == [("xgb/BTCUSDT/h4", version)]
    pair = pairs[0]
    assert pair["candles"] > 400
    challenger, twin = pair["challenger"], pair["twin"]
    assert challenger["trades"] > 0, "the shadow accounts never traded: the test shows nothing"
    assert challenger == twin
    # started on the replay's first close, flat like production: the twin's decision path is
    # production's, so it trades as production did
    assert twin["trades"] == shadowed.summary["trades"]
    assert pair["sharpe_difference"] == 0.0

    assert "shadow_trading" not in alone.summary
    for key in SAME:
        assert shadowed.summary[key] == alone.summary[key], key
    assert _trades(shadowed) == _trades(alone)
    status = {s.name: s for s in shadowed.runtime.status.snapshot()}["shadow_models"]
    assert status.counters["shadow_accounts_started"] == 2
    assert "shadow trading over" in status.reason

    # the challenger got its candidate experiment (app/model_candidates.py) on the same pair:
    # an A/A test, every paired difference exactly zero
    stored = SqlExperimentStore(shadowed.runtime.db).load(f"xgb.BTCUSDT.h4@v{version}")
    assert stored is not None and stored.spec.arms[1].kind == "model"
    assert creator_of(stored).startswith("learning daemon: continuous_learning")
    assert len(stored.observations) > 400
    assert {o.values["candidate"] - o.values["production"] for o in stored.observations} == {0.0}
    assert {o.values["production"] for o in stored.observations} != {0.0}  # they traded
