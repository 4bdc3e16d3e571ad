"""``train`` on small slices of the shared data: stored, hash-checked, registered candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.cli.train import TrainingData, app, train_members
from quantum_trader.app.market_data import MarketData
from quantum_trader.clock import SimulatedClock
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig, compute_universe_features
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.forecasting.member import ForecastMember
from quantum_trader.models.tabular.xgb import XgbModel
from quantum_trader.status import StatusRegistry

runner = CliRunner()


def _registry(home: Path) -> ModelRegistry:
    engine = open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}")
    return ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(0))


@pytest.mark.data
def test_train_cli_stores_and_registers_tabular_and_forecaster_candidates(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    args = ["--models", "xgb,nhits", "--symbol", "ETHUSDT", "--days", "40", "--epochs", "1"]
    args += ["--no-progress", "--data-dir", str(data_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    registry, store = _registry(tmp_path), LocalArtifactStore(tmp_path / "artifacts")
    candles = CandleStore(data_dir).series("ETHUSDT", "1h")
    for name in ("xgb", "nhits"):
        (version,) = registry.versions(ModelKey(name, "ETHUSDT", 4))
        assert version.stage is Stage.CANDIDATE and version.artifact_hash in result.output
        (change,) = registry.history(version.key)
        assert change.actor.startswith("cli:") and "trained by CLI" in change.reason
        window = version.metadata.training_window
        assert window is not None and window[1] >= int(candles.open_time[-1]) - 4 * 3_600_000
        assert window[0] >= int(candles.open_time[-1]) - 40 * 86_400_000
    xgb = registry.versions(ModelKey("xgb", "ETHUSDT", 4))[0]
    nhits = registry.versions(ModelKey("nhits", "ETHUSDT", 4))[0]
    assert XgbModel.load(store.open(xgb.artifact_hash)).metadata.data_hash == xgb.metadata.data_hash
    member = ForecastMember.load(store.open(nhits.artifact_hash))
    assert member.metadata == nhits.metadata
    vote = member.vote("ETHUSDT", candles.close[-168:])
    assert abs(vote.p_down + vote.p_flat + vote.p_up - 1.0) < 1e-9


@pytest.mark.data
def test_one_tree_line_per_symbol_one_global_forecaster_with_evidence(
    data_dir: Path, tmp_path: Path
) -> None:
    status = StatusRegistry(SimulatedClock(5))
    handle = status.register("patchtst", enabled=True, reason="test")
    trained = train_members(
        ["lgbm", "patchtst"],
        ["ETHUSDT", "SOLUSDT"],
        TrainingData(MarketData(CandleStore(data_dir), "1h"), 20, LabelSpec()),
        store=LocalArtifactStore(tmp_path / "artifacts"),
        registry=_registry(tmp_path),
        actor="cli:test",
        clock=SimulatedClock(1_700_000_000_000),
        epochs=1,
        status={"patchtst": handle},
    )
    keys = [str(t.version.key) for t in trained]
    assert keys == ["lgbm/ETHUSDT/h4", "lgbm/SOLUSDT/h4", "patchtst/global/h4"]
    # the forecaster trained in a spawned worker (the trainer port): its peak RSS is evidence too
    counters = handle.status.counters
    assert (counters["trainings_run"], counters["artifacts_written"]) == (1, 1)
    assert set(counters) == {"trainings_run", "artifacts_written", "training_worker_peak_rss_mib"}
    assert counters["training_worker_peak_rss_mib"] > 0
    forecaster = trained[-1].version.metadata
    assert forecaster.hyperparameters["symbols"] == ["ETHUSDT", "SOLUSDT"]
    assert np.isfinite(forecaster.metrics["validation_pinball"])


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--models", "nhits,lstm", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "lstm" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--days", "0"], "Invalid value for '--days'"),
        (["--models", "nhits", "--epochs", "0"], "Invalid value for '--epochs'"),
        (["--timeframe", "7x"], "--timeframe: unknown timeframe '7x'"),
        (["--artifacts-dir", "{blocked}"], "--artifacts-dir {blocked}: cannot create it"),
    ],
    ids=["days", "epochs", "timeframe", "artifacts-dir"],
)
def test_a_bad_option_is_one_line_before_any_training(
    args: list[str], says: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """Each but --days was a traceback (--artifacts-dir after the training); --days 0 said
    "xgb.fit: no labelled rows" without naming the option."""
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("COLUMNS", "400")  # the message on one line, whatever the path's length
    (tmp_path / "a-file").write_text("not a folder")
    blocked = str(tmp_path / "a-file" / "artifacts")
    args = [a.format(blocked=blocked) for a in args]
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert says.format(blocked=blocked) in result.output
    assert "Traceback" not in result.output


@pytest.mark.data
def test_universe_features_rank_a_symbol_among_the_runs_symbols(data_dir: Path) -> None:
    """QT_FEATURES=universe: the CLI's dataset of one symbol is computed with its peers (the
    run's symbols), equal to that symbol's rows of the universe computed at once."""
    universe = FeatureConfig(extended=True, universe=True)
    market = MarketData(CandleStore(data_dir), "1h")
    data = TrainingData(market, 40, LabelSpec(), universe, ("BTCUSDT", "SOLUSDT"))
    dataset = data.dataset("ETHUSDT", universe)
    assert dataset.names == universe.names and len(dataset.names) == 57
    peers = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    together = compute_universe_features(
        {s: data.candles(s) for s in peers},
        {s: market.funding(s) for s in peers},
        market.series("BTCUSDT"),
        universe,
    )["ETHUSDT"]
    np.testing.assert_array_equal(dataset.x, together.values[together.complete])
    assert (dataset.x[:, dataset.names.index("xs_available")] == 1.0).all()
