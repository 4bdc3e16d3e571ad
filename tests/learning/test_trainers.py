"""The trainer port: one table of model families, one train → store → register flow."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.training import BOOTSTRAP_ACTOR, ensure_tabular_models, looks_ahead
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config import KNOWN_MODELS
from quantum_trader.config.modules import MODEL_MODULES
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.trainers import (
    FAMILIES,
    FamilyKind,
    FitOptions,
    TrainingWindow,
    default_scope,
    family,
    fit,
    names_of,
    train_and_register,
)
from quantum_trader.learning.walk_forward import WalkForwardConfig
from quantum_trader.models.forecasting.spec import ARCHITECTURES
from quantum_trader.models.tabular import LgbmModel, TabularModel, XgbModel
from quantum_trader.models.tabular.training import train_tabular
from quantum_trader.status.registry import StatusRegistry
from tests.learning.synthetic import HOUR, TINY, synthetic_dataset


def test_one_table_of_model_names() -> None:
    assert tuple(FAMILIES) == KNOWN_MODELS == MODEL_MODULES == WalkForwardConfig().models
    assert names_of(FamilyKind.FORECASTER) == ARCHITECTURES
    assert names_of(FamilyKind.TABULAR) == (XgbModel.name, LgbmModel.name)
    for name, entry in FAMILIES.items():
        assert entry.name == name
        # torch must never enter the serving process: whatever needs it trains in a worker
        assert entry.spawned is (entry.kind is FamilyKind.FORECASTER)
    assert default_scope("nhits", "ETHUSDT") == "global"
    assert default_scope("xgb", "ETHUSDT") == "ETHUSDT"
    with pytest.raises(ValueError, match="unknown model 'lstm'"):
        family("lstm")


@pytest.mark.parametrize("cls", [XgbModel, LgbmModel])
def test_the_port_trains_bit_for_bit_what_the_model_trains_alone(
    cls: type[TabularModel], tmp_path: Path
) -> None:
    data = synthetic_dataset(3)
    store = LocalArtifactStore(tmp_path / "artifacts")
    alone = train_tabular(cls, data, clock=SimulatedClock(7), params=TINY)
    expected = store.put(alone.save)
    handle = StatusRegistry(SimulatedClock(0)).register(cls.name, enabled=True, reason="t")
    window = TrainingWindow(dataset=data)
    fitted = fit(
        cls.name, window, FitOptions(params=TINY), store, clock=SimulatedClock(7), handle=handle
    )
    assert fitted.digest == expected
    assert fitted.metadata == alone.metadata
    counters = handle.status.counters
    assert (counters["trainings"], counters["artifacts_written"]) == (1, 1)


def test_bootstrap_and_cli_routes_store_the_same_artifact_and_lineage(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    data = synthetic_dataset(5, symbol="ETHUSDT")
    store = LocalArtifactStore(tmp_path / "artifacts")
    clock = SimulatedClock(1_000)
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), clock)
    (report,) = ensure_tabular_models(
        ["lgbm", "nhits"], {"ETHUSDT": data}, horizon=4, registry=registry, artifacts=store,
        clock=clock, handles={},
    )  # fmt: skip
    key = ModelKey("lgbm", "ETHUSDT", 4)
    boot = registry.production(key)
    assert boot is not None and (report.key, report.version, report.trained) == (key, 1, True)
    assert [c.actor for c in registry.history(key)] == [BOOTSTRAP_ACTOR] * 2
    trained = train_and_register(
        "lgbm", TrainingWindow(dataset=data), FitOptions(), store=store, registry=registry,
        actor="cli:test", reason=lambda m: f"window {m.training_window}", clock=clock,
    )  # fmt: skip
    cli = trained.version
    assert (cli.version, cli.stage, trained.rows) == (2, Stage.CANDIDATE, len(data))
    assert cli.artifact_hash == boot.artifact_hash and cli.lineage == boot.lineage
    assert registry.history(key)[-1].reason == f"window {boot.metadata.training_window}"
    again = ensure_tabular_models(
        ["lgbm"], {"ETHUSDT": data}, horizon=4, registry=registry, artifacts=store, clock=clock,
        handles={},
    )  # fmt: skip
    assert [r.trained for r in again] == [False]  # a production version exists: left alone


def test_a_production_version_on_other_features_is_replaced_at_bootstrap(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """QT_FEATURES changed under a home that keeps its models: the old PRODUCTION version reads
    other columns, so it is retrained and replaced, and the audit trail says why."""
    data = synthetic_dataset(5, symbol="ETHUSDT")
    store = LocalArtifactStore(tmp_path / "artifacts")
    clock = SimulatedClock(1_000)
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), clock)
    options = {"horizon": 4, "registry": registry, "artifacts": store, "clock": clock}
    ensure_tabular_models(["lgbm"], {"ETHUSDT": data}, handles={}, **options)  # type: ignore[arg-type]
    wider = Dataset(
        data.symbol, data.timeframe, (*data.names, "f3"), data.open_time,
        np.column_stack([data.x, data.x[:, 1]]), data.y, data.forward_return, data.label_spec,
    )  # fmt: skip
    (report,) = ensure_tabular_models(["lgbm"], {"ETHUSDT": wider}, handles={}, **options)  # type: ignore[arg-type]
    key = ModelKey("lgbm", "ETHUSDT", 4)
    production = registry.production(key)
    assert report.trained and production is not None and production.version == 2
    assert production.metadata.features == wider.names
    assert "reads 3 features, this run's settings give 4" in registry.history(key)[-1].reason
    (same,) = ensure_tabular_models(["lgbm"], {"ETHUSDT": wider}, handles={}, **options)  # type: ignore[arg-type]
    assert not same.trained
    barrier = dataclasses.replace(wider, label_spec=LabelSpec(horizon=4, kind="barrier"))
    (relabelled,) = ensure_tabular_models(["lgbm"], {"ETHUSDT": barrier}, handles={}, **options)  # type: ignore[arg-type]
    assert relabelled.trained and relabelled.version == 3
    assert "learned the sign label, this run's is barrier 2/2 sigma" in (
        registry.history(key)[-1].reason
    )


def test_a_production_version_that_learned_past_the_replay_start_is_replaced(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """A run killed after continuous learning promoted a version, started again: its replay
    begins before what that version learned, so it must not serve from the start (issue 22,
    crash consistency). A version whose labels all close by the start is kept."""
    data = synthetic_dataset(5, symbol="ETHUSDT")  # 400 candles, the last 4 unlabelled
    store = LocalArtifactStore(tmp_path / "artifacts")
    clock = SimulatedClock(1_000)
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), clock)
    options = {"horizon": 4, "registry": registry, "artifacts": store, "clock": clock}
    after_data = int(data.open_time[-1]) + HOUR  # the last labelled row's label closes here
    ensure_tabular_models(["lgbm"], {"ETHUSDT": data}, handles={}, **options)  # type: ignore[arg-type]
    (kept,) = ensure_tabular_models(
        ["lgbm"], {"ETHUSDT": data}, handles={}, serves_from=after_data, **options  # type: ignore[arg-type]
    )  # fmt: skip
    assert not kept.trained
    y = data.y[:300].copy()
    y[-4:] = np.nan  # as a dataset ending at the replay's start: the last labels look past it
    earlier = dataclasses.replace(
        data, open_time=data.open_time[:300], x=data.x[:300], y=y,
        forward_return=data.forward_return[:300],
    )  # fmt: skip
    start = int(earlier.open_time[-1]) + HOUR  # a replay starting 100 candles earlier
    (report,) = ensure_tabular_models(
        ["lgbm"], {"ETHUSDT": earlier}, handles={}, serves_from=start, **options  # type: ignore[arg-type]
    )  # fmt: skip
    key = ModelKey("lgbm", "ETHUSDT", 4)
    production = registry.production(key)
    assert report.trained and production is not None and production.version == 2
    reason = registry.history(key)[-1].reason
    assert "the PRODUCTION version 1 learned labels closing up to" in reason
    assert "serving it would look ahead" in reason
    assert looks_ahead(production, start) is None
    (same,) = ensure_tabular_models(
        ["lgbm"], {"ETHUSDT": earlier}, handles={}, serves_from=start, **options  # type: ignore[arg-type]
    )  # fmt: skip
    assert not same.trained


def test_the_port_and_serving_never_import_torch() -> None:
    """The serving process imports the family table; torch must stay in the training worker."""
    code = (
        "import sys\n"
        "import quantum_trader.app.training, quantum_trader.learning.walk_forward\n"
        "import quantum_trader.learning.watcher, quantum_trader.app.cli.train\n"
        "import quantum_trader.learning.daemon, quantum_trader.learning.forecaster_lines\n"
        "import quantum_trader.app.continuous_learning\n"
        "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_bootstrap_keeps_one_global_forecaster_line_even_for_one_symbol(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """With one symbol the forecaster registered under the symbol's scope while bootstrap looked
    for the global line: it retrained at every run and was served DISABLED."""
    from quantum_trader.app.training import ensure_forecast_models
    from quantum_trader.data.synthetic import SyntheticConfig, generate_market
    from quantum_trader.features.labels import LabelSpec

    (series,) = generate_market(SyntheticConfig(seed=3, candles=700), ["BTCUSDT"])
    history = {"BTCUSDT": series.frame}
    store = LocalArtifactStore(tmp_path / "artifacts")
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), SimulatedClock(1_000))
    first = ensure_forecast_models(
        ["nhits"], history, labels=LabelSpec(horizon=4), registry=registry, artifacts=store,
        seed=7, handles={},
    )  # fmt: skip
    assert [(str(r.key), r.trained) for r in first] == [("nhits/global/h4", True)]
    assert registry.production(ModelKey("nhits", "global", 4)) is not None
    again = ensure_forecast_models(
        ["nhits"], history, labels=LabelSpec(horizon=4), registry=registry, artifacts=store,
        seed=7, handles={},
    )  # fmt: skip
    assert [r.trained for r in again] == [False]  # found: not trained again
