"""A promotion from the CLI reaches a running engine's ensembles without a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.cli.models import app as models_cli
from quantum_trader.bus import topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.events import ModelStageChange
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.serving import DEFAULT_LOADERS, ensemble_of, load_members
from quantum_trader.learning.trainers import FitOptions, TrainingWindow, train_and_register
from quantum_trader.learning.watcher import ProductionWatcher, registry_cursor
from quantum_trader.models.ensemble import Ensemble, EnsembleConfig, VoteContext
from quantum_trader.models.ensemble.member import vote_from_probs
from quantum_trader.models.tabular import XgbModel
from quantum_trader.status.registry import ModuleState, StatusRegistry
from tests.learning.synthetic import synthetic_dataset

KEY = ModelKey("xgb", "global", 4)
SYMBOLS = ("BTCUSDT", "ETHUSDT")
ROW = np.array([0.35, -1.0, 0.5])


def _promote_from_cli(*args: str) -> None:
    result = CliRunner().invoke(models_cli, list(args))
    assert result.exit_code == 0, result.output


def _p_up(ensemble: Ensemble, at: int) -> float:
    (vote,) = ensemble.decide("BTCUSDT", VoteContext(at, features=ROW)).signal.votes
    return vote.p_up


def test_cli_promotion_and_rollback_swap_the_running_ensembles(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}"
    store = LocalArtifactStore(tmp_path / "artifacts")
    # the training side: two real versions of one global line, v1 in production
    trainer = ModelRegistry(SqlRegistryRepository(open_database(url)), SimulatedClock(0))
    for seed, rounds in ((1, 3), (2, 30)):
        train_and_register(
            "xgb", TrainingWindow(dataset=synthetic_dataset(seed, symbol="global")),
            FitOptions(params={"num_boost_round": rounds}), store=store, registry=trainer,
            actor="test", reason=lambda _m: "seed",
        )  # fmt: skip
    trainer.promote(KEY, 1, actor="test", reason="first", to=Stage.PRODUCTION)
    p_up = {
        v.version: vote_from_probs("xgb", XgbModel.load(store.open(v.artifact_hash)).predict_row(ROW)).p_up
        for v in trainer.versions(KEY)
    }  # fmt: skip
    assert p_up[1] != p_up[2]

    # the engine side: its own engine on the same database file
    serving = ModelRegistry(SqlRegistryRepository(create_db_engine(url)), SimulatedClock(0))
    status = StatusRegistry(SimulatedClock(0))
    handle = status.register("model_registry", enabled=True, reason="t")
    xgb = status.register("xgb", enabled=True, reason="t")
    scopes = {"xgb": "global"}
    cursor = registry_cursor(serving)  # before loading: nothing written meanwhile is missed
    ensembles = {
        s: ensemble_of(
            EnsembleConfig(("xgb",), 1),
            load_members(["xgb"], s, 4, serving, store, {"xgb": xgb}, DEFAULT_LOADERS, scopes),
        )
        for s in SYMBOLS
    }
    bus = InProcessBus(SimulatedClock(0))
    events: list[ModelStageChange] = []
    subscribe_records(bus, topics.MODEL_STAGE_CHANGED, events.append)
    watcher = ProductionWatcher(
        serving, store, ensembles, horizon=4, loaders=DEFAULT_LOADERS, scopes=scopes,
        cursor=cursor, bus=bus, handle=handle, handles={"xgb": xgb},
    )  # fmt: skip
    assert watcher.refresh(1) == 0 and events == []
    assert _p_up(ensembles["BTCUSDT"], 1) == p_up[1]

    _promote_from_cli(
        "promote", str(KEY), "2", "--to", "PRODUCTION", "--reason", "better", "--by", "carol"
    )
    assert _p_up(ensembles["BTCUSDT"], 2) == p_up[1]  # until the job runs, v1 still votes
    assert watcher.refresh(3) == 2  # one load, both symbols' ensembles
    for ensemble in ensembles.values():
        assert [str(m) for m in ensemble.member_ids] == ["xgb v2"]
        assert _p_up(ensemble, 4) == p_up[2]
    assert [(e.version, e.from_stage, e.to_stage) for e in events] == [
        (1, "PRODUCTION", "RETIRED"),
        (2, "CANDIDATE", "PRODUCTION"),
    ]
    assert dataclasses.replace(events[1], time=0) == ModelStageChange(
        "xgb", "global", 4, 2, "CANDIDATE", "PRODUCTION", "PROMOTE", "carol", "better", 0
    )
    assert xgb.status.state is ModuleState.ACTIVE and "v2" in xgb.status.reason

    _promote_from_cli("rollback", str(KEY), "--reason", "live hit rate fell")
    assert watcher.refresh(5) == 2
    assert _p_up(ensembles["ETHUSDT"], 6) == p_up[1]
    assert watcher.refresh(7) == 0  # nothing new

    # a production version whose artifact is missing: the previous production version (v1,
    # replaced, still restorable; v2 was rolled back) serves in its place, DEGRADED
    broken = trainer.register(trainer.get(KEY, 1).lineage, "0" * 64, actor="test", reason="lost")
    trainer.promote(KEY, broken.version, actor="test", reason="oops", to=Stage.PRODUCTION)
    assert watcher.refresh(8) == 2
    assert [str(m) for m in ensembles["BTCUSDT"].member_ids] == ["xgb v1"]
    assert _p_up(ensembles["BTCUSDT"], 9) == p_up[1]
    assert xgb.status.state is ModuleState.DEGRADED
    assert f"v{broken.version} refused" in xgb.status.reason and "v1 serves" in xgb.status.reason
    counters = handle.status.counters
    assert counters["member_swaps"] == 6 and counters["swap_failures"] == 1
    assert counters["stage_changes_seen"] == len(trainer.history(KEY)) - 3  # after the cursor
