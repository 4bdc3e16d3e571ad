"""The model lines' candidate experiments (``experiments/model_lines.py``, wired by
``app/model_candidates.py``): each challenger that
continuous learning puts in the shadow gets an experiment fed from its own shadow pair; a
newer challenger supersedes it, a line left without one ends it; candles the engine skips
while nothing is fed still count towards a candidate's stint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app.model_candidates import attach_model_candidates
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.experiments.candidates import TREATMENT
from quantum_trader.experiments.creators import creator_of
from quantum_trader.experiments.model_lines import ModelLineExperiments
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import StatusRegistry

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
LINE = "xgb/BTCUSDT/h4"


@dataclass
class Pair:
    """What the wiring reads of a ``ShadowPair``."""

    line: str
    version: int
    twin: Any = field(default_factory=lambda: SimpleNamespace(portfolio=Portfolio("twin")))
    challenger: Any = field(default_factory=lambda: SimpleNamespace(portfolio=Portfolio("ch")))


@dataclass
class World:
    """Shadow trading's active pairs, the slot book's listeners and the session's followers."""

    clock: SimulatedClock = field(default_factory=lambda: SimulatedClock(START))
    active: dict[str, Pair] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)
    followers: list[Any] = field(default_factory=list)
    stops: list[Any] = field(default_factory=list)

    def challenger(self, version: int | None) -> None:
        """Shadow trading hears the new challenger first: it starts (or ends) the pair."""
        self.active.pop(LINE, None)
        if version is not None:
            self.active[LINE] = Pair(LINE, version)
        for listener in self.listeners:
            listener(LINE, version)

    def candle(self, treatment_gain: float = 0.0) -> None:
        t = self.clock.now() + HOUR
        self.clock.advance_to(t)
        for pair in self.active.values():
            n = len(pair.twin.portfolio.equity_times)
            for book, equity in (
                (pair.twin, 100.0 + n),
                (pair.challenger, 100.0 + n * (1 + treatment_gain)),
            ):
                book.portfolio.equity_times.append(t)
                book.portfolio.equity_values.append(equity)
        for handler, _ in self.followers:
            handler("BTCUSDT", t - HOUR, t, 1.0, 1.0, 1.0, 1.0, 1.0)


@pytest.fixture
def store(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> SqlExperimentStore:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    return SqlExperimentStore(open_settings_database(load_storage_settings()))


def _attach(world: World, store: SqlExperimentStore) -> tuple[ModelLineExperiments, Any]:
    rt = SimpleNamespace(clock=world.clock, settings=SimpleNamespace(seed=3))
    session = SimpleNamespace(follow=lambda handler, skipper=None: world.followers.append(
        (handler, skipper)))  # fmt: skip
    lifecycle = SimpleNamespace(start=lambda hooks: world.stops.append(hooks.stop))
    handle = StatusRegistry(world.clock).register("ab_testing", enabled=True, reason="test")
    attached = attach_model_candidates(
        cast(Any, rt), cast(Any, session), cast(Any, lifecycle),
        cast(Any, SimpleNamespace(active=world.active)), world.listeners, store, handle,
    )  # fmt: skip
    assert attached is not None
    return attached, handle


def test_each_challenger_gets_an_experiment_on_its_own_pair(store: SqlExperimentStore) -> None:
    world = World()
    candidates, handle = _attach(world, store)
    world.challenger(2)
    for _ in range(120):  # v2 stays past the minimum sample
        world.candle(0.5)
    world.challenger(3)  # a newer one: its own pair, v2's experiment superseded
    for _ in range(5):
        world.candle()
    world.challenger(None)  # v3 promoted or retired: its experiment ends
    world.candle()

    v2 = store.load("xgb.BTCUSDT.h4@v2")
    v3 = store.load("xgb.BTCUSDT.h4@v3")
    assert v2 is not None and v3 is not None
    # v2's account gained more on every candle: the test concluded for it at its minimum
    # sample, before v3 arrived (a concluded experiment is not superseded)
    assert v2.status is ExperimentStatus.CONCLUDED and v2.verdict.startswith("winner: candidate"), (
        v2.verdict
    )
    assert len(v2.observations) == v2.spec.min_samples
    assert v3.status is ExperimentStatus.STOPPED and "no challenger now" in v3.verdict
    assert all(s.spec.arms[1].kind == "model" and s.spec.mode == "shadow" for s in (v2, v3))
    assert creator_of(v2).startswith("learning daemon: continuous_learning put xgb/BTCUSDT/h4 v2")
    assert all(o.values[TREATMENT] > 0 for o in v2.observations)  # its own pair's account
    assert 0 < len(v3.observations) <= 5  # v3's pair started flat: only its own candles
    assert candidates.summary()[LINE]["created"] == ["xgb.BTCUSDT.h4@v2", "xgb.BTCUSDT.h4@v3"]
    assert handle.status.counters["model_candidate_experiments_created"] == 2
    assert handle.status.counters["model_candidate_experiments_running"] == 0


def test_a_challenger_replaced_too_soon_leaves_its_successor_without_one(
    store: SqlExperimentStore,
) -> None:
    world = World()
    candidates, handle = _attach(world, store)
    world.challenger(2)
    for _ in range(10):
        world.candle()
    world.challenger(3)  # v2 stayed 10 candles: v3 gets no experiment
    assert store.names() == ["xgb.BTCUSDT.h4@v2"]
    assert handle.status.counters["model_candidate_experiments_skipped"] == 1
    assert "stayed 10 candles" in candidates.summary()[LINE]["skip_reason"]


def test_skipped_candles_count_towards_the_stint(store: SqlExperimentStore) -> None:
    """While no experiment is fed the candles are quiet; those the engine skips are counted,
    so a challenger that stayed long enough is not taken for a short one."""
    world = World()
    candidates, _ = _attach(world, store)
    world.challenger(2)
    world.challenger(None)  # ended at once: nothing fed from here
    _, skipper = world.followers[0]
    bars = SimpleNamespace(close_time=np.arange(1, 151, dtype=np.int64) * HOUR + START)
    assert skipper.quiet_until("BTCUSDT", bars, 0, 150) == 150
    skipper.skip_bars("BTCUSDT", bars, 0, 150)
    skipper.skip_bars("ETHUSDT", bars, 0, 150)  # the same close times: counted once
    world.clock.advance_to(START + 150 * HOUR)
    world.challenger(3)
    assert candidates.lines[LINE].skipped == []
    assert store.names() == ["xgb.BTCUSDT.h4@v2", "xgb.BTCUSDT.h4@v3"]
    assert skipper.quiet_until("BTCUSDT", bars, 0, 150) == 0  # v3's is fed: every candle


def test_no_shadow_trading_nothing_attached(store: SqlExperimentStore) -> None:
    world = World()
    rt = SimpleNamespace(clock=world.clock, settings=SimpleNamespace(seed=3))
    handle = StatusRegistry(world.clock).register("ab_testing", enabled=True, reason="test")
    got = attach_model_candidates(cast(Any, rt), cast(Any, None), cast(Any, None), None, None,
                                  store, handle)  # fmt: skip
    assert got is None
