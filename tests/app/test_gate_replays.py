"""The validation gate's trading replays through the main job (``app/gate_replays.py``), on a
small synthetic market: each arm replays the same candles with the versions it was given (the
candidate in its line's place in one of them), nothing is trained in a replay, and the run's
own registry and folders are left as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.compose import labels
from quantum_trader.app.continuous_learning import store_reader
from quantum_trader.app.gate_replays import EngineTradingScorer
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.system_evaluation import replay_window
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config import Settings, load_settings
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.evaluation.system import VariantRun
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.trading_check import (
    TradingReplayError,
    check_trading,
    check_unseen,
)
from quantum_trader.learning.trainers import FitOptions, TrainingWindow, fit

SYMBOL = "SYNBTCUSDT"
HORIZON = 4


@pytest.fixture
def home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_SYMBOLS", "BTCUSDT")
    clean_env.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    clean_env.setenv("QT_TRAIN_DAYS", "30")
    clean_env.setenv("QT_REPLAY_DAYS", "2")
    clean_env.setenv("QT_OFFLINE", "true")
    clean_env.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    clean_env.setenv("MODEL_SUPERVISOR_ENABLED", "false")
    clean_env.setenv("QT_RL_AGENTS", "true")  # 30 days of history: too short to train on
    return tmp_path / "home"


def _serving(settings: Settings) -> dict[str, str]:
    """Each line's PRODUCTION artifact in a (scratch) home's registry."""
    db = open_database(settings.effective_database_url)
    try:
        registry = ModelRegistry(SqlRegistryRepository(db), SimulatedClock(0))
        return {
            str(v.key): v.artifact_hash for v in registry.versions() if v.stage is Stage.PRODUCTION
        }
    finally:
        db.dispose()


@pytest.mark.slow
def test_two_arms_replay_one_window_with_the_versions_they_were_given(home: Path) -> None:
    # the run: a synthetic market in the store, xgb and lgbm trained on its first 30 days
    run = run_main_job(load_settings(), synthetic=True, write_report=False)
    settings = run.runtime.settings
    registry = ModelRegistry(SqlRegistryRepository(run.runtime.db), SimulatedClock(0))
    artifacts = LocalArtifactStore(settings.effective_artifacts_dir)
    key = ModelKey("xgb", SYMBOL, HORIZON)
    champion = registry.production(key)
    assert champion is not None and champion.lineage.window is not None
    # a candidate: the champion's recipe on the champion's rows, another seed
    first, last = champion.lineage.window
    read = store_reader(CandleStore(settings.effective_store_dir), "1h", labels(settings), [])
    rows = read(SYMBOL, first - MS_PER_DAY, last + (HORIZON + 1) * MS_PER_HOUR)
    keep = (rows.open_time >= first) & (rows.open_time <= last)
    cut = rows.rows(int(np.argmax(keep)), int(np.flatnonzero(keep)[-1]) + 1)
    fitted = fit("xgb", TrainingWindow(cut), FitOptions(seed=1), artifacts)
    candidate = registry.register(fitted.metadata, fitted.digest, actor="test", reason="twin")
    assert candidate.artifact_hash != champion.artifact_hash
    window = (run.replay_start, run.replay_start + 2 * MS_PER_DAY)
    check_unseen(candidate, window, HORIZON, MS_PER_HOUR)  # fitted before the window opens

    served: list[dict[str, str]] = []

    def spy(scratch: Settings, run_id: str, where: tuple[int, int]) -> VariantRun:
        # the run's agents are on; the scratch replay's are off (their daemon would register
        # policies there: a make run crashed on it)
        assert settings.rl_agents and not scratch.rl_agents
        served.append(_serving(scratch))
        return replay_window(scratch, run_id, where)

    before = [(str(v.key), v.version, v.stage) for v in registry.versions()]
    folder = home / "validations" / run.run_id
    scorer = EngineTradingScorer(spy, settings, registry, artifacts, [SYMBOL], folder, run.run_id)
    replays = scorer(candidate, window)

    lgbm = registry.production(ModelKey("lgbm", SYMBOL, HORIZON))
    assert lgbm is not None
    assert served == [
        {str(key): champion.artifact_hash, str(lgbm.key): lgbm.artifact_hash},
        {str(key): candidate.artifact_hash, str(lgbm.key): lgbm.artifact_hash},
    ]
    assert replays.champion.times == replays.candidate.times
    assert len(replays.champion.times) == 2 * 24 - 1  # 48 candles, their closes: 47 returns
    assert replays.champion.times[-1] == window[1]
    for arm in (replays.champion, replays.candidate):
        assert arm.performance.periods == len(arm.returns)
        assert np.isfinite(arm.returns).all() and arm.performance.fees >= 0.0
    check = check_trading(replays, alpha=0.05)
    assert check.difference is not None
    # the run is as it was: registry untouched, scratch homes gone
    assert [(str(v.key), v.version, v.stage) for v in registry.versions()] == before
    assert not any(folder.iterdir())
    # the champion's replay is made once for candidates of one window and production
    scorer(candidate, window)
    assert scorer.replays == 3
    registry.retire(lgbm.key, lgbm.version, actor="test", reason="gone")
    with pytest.raises(TradingReplayError, match="lgbm/SYNBTCUSDT/h4 has no PRODUCTION"):
        scorer(candidate, window)
