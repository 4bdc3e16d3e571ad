from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import Engine

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.bus import InProcessBus
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT, MODEL_DRIFT_DETECTED
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.events import CovariateShift, DriftDetected
from quantum_trader.intelligence import Intelligence, ShiftReference
from quantum_trader.intelligence.state import StateRepository
from tests.intelligence.synthetic import HOUR, Member, Replay

FEATURES = ("f0", "f1", "f2")
STEPS, RESTART_AT, BAD_FROM, SHIFT_FROM = 700, 350, 400, 520
MODELS = ("xgb", "lgbm", "nhits")


def test_sql_repository_upserts_and_loads(db_engine: Engine) -> None:
    repo = SqlIntelligenceStateRepository(db_engine)
    assert repo.load("intelligence/ledger") is None
    repo.save("intelligence/ledger", '{"a":1}', at=1)
    repo.save("intelligence/ledger", '{"a":2.5}', at=2)
    assert json.loads(repo.load("intelligence/ledger") or "") == {"a": 2.5}


class World:
    """The environment of a replay: labels, member votes and live feature windows."""

    def __init__(self) -> None:
        members = [
            Member("xgb", 0.75),
            Member("lgbm", 0.7),
            Member("nhits", 0.75, inverted_when=lambda step: step >= BAD_FROM),
        ]
        self.replay = Replay(members, symbols=("BTCUSDT", "ETHUSDT"), seed=4)
        self.rng = np.random.default_rng(9)

    def window(self, step: int) -> np.ndarray:
        w = self.rng.normal(size=(64, len(FEATURES)))
        if step >= SHIFT_FROM:
            w[:, 2] += 1.5
        return w


def build(clock: SimulatedClock, repo: StateRepository) -> tuple[Intelligence, InProcessBus]:
    bus = InProcessBus(clock, run_id="replay")
    intel = Intelligence(bus=bus, repository=repo)
    assert intel.covariate is not None
    train = np.random.default_rng(1).normal(size=(1200, len(FEATURES)))
    intel.covariate.set_reference("nhits", ShiftReference.fit(train, FEATURES))
    return intel, bus


def drive(
    intel: Intelligence, world: World, clock: SimulatedClock, steps: range, log: list[Any]
) -> None:
    for step in steps:
        clock.advance_to(step * HOUR + HOUR)
        world.replay.step(intel, step)
        if step % 10 == 0:
            intel.check_features("BTCUSDT", "nhits", world.window(step), FEATURES, clock.now())
        for symbol in ("BTCUSDT", "ETHUSDT"):
            log.append((step, symbol, intel.weights(symbol, MODELS, clock.now())))


Alarm = DriftDetected | CovariateShift


def recorder(bus: InProcessBus, sink: list[Alarm]) -> None:
    subscribe_records(bus, MODEL_DRIFT_DETECTED, sink.append)
    subscribe_records(bus, MODEL_COVARIATE_SHIFT, sink.append)


def states(intel: Intelligence) -> dict[str, Any]:
    return {name: part.to_state() for name, part in intel.parts().items()}


def test_restart_mid_replay_continues_like_an_uninterrupted_run(db_engine: Engine) -> None:
    # uninterrupted
    clock = SimulatedClock(0)
    whole, bus = build(clock, SqlIntelligenceStateRepository(db_engine))
    events_whole: list[Alarm] = []
    recorder(bus, events_whole)
    log_whole: list[Any] = []
    drive(whole, World(), clock, range(STEPS), log_whole)

    # interrupted: save at RESTART_AT, a new process restores and goes on
    repo = SqlIntelligenceStateRepository(db_engine)
    world = World()
    clock = SimulatedClock(0)
    first, bus = build(clock, repo)
    events: list[Alarm] = []
    recorder(bus, events)
    log: list[Any] = []
    drive(first, world, clock, range(RESTART_AT), log)
    first.save(clock.now())
    del first

    clock = SimulatedClock(clock.now())
    second, bus = build(clock, repo)
    assert sorted(second.restore()) == sorted(
        ["ledger", "memory_states", "reinforcement", "drift_detection", "covariate_shift"]
    )
    recorder(bus, events)
    drive(second, world, clock, range(RESTART_AT, STEPS), log)

    assert log == log_whole  # every weight and every WeightChange, bit for bit
    assert events == events_whole
    assert states(second) == states(whole)
    drift = [e for e in events_whole if isinstance(e, DriftDetected)]
    assert drift and any(isinstance(e, CovariateShift) for e in events_whole)
    assert {e.model for e in drift} == {"nhits"}
    assert all(e.prediction_time >= BAD_FROM * HOUR for e in drift)


def test_cli_show_prints_what_was_saved(tmp_path: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from quantum_trader.adapters.sql.database import open_database
    from quantum_trader.app.cli.intelligence import app

    url = f"sqlite:///{tmp_path / 'qt.sqlite'}"
    monkeypatch.setenv("QT_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["show"]).exit_code == 1  # nothing saved yet
    clock = SimulatedClock(0)
    intel, _ = build(clock, SqlIntelligenceStateRepository(open_database(url)))
    drive(intel, World(), clock, range(60), [])
    intel.save(clock.now())
    result = runner.invoke(app, ["show"])
    assert result.exit_code == 0, result.output
    assert "learned weights" in result.output and "BTCUSDT" in result.output
    assert "EWMA hit rate" in result.output and "warming up" in result.output
