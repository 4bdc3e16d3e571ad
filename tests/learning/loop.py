"""The learning half on a labelled synthetic market, without the trading half: for the
acceptance tests of continuous learning and their bench (``bench/bench_learning_loop.py``).

One symbol whose returns trend (momentum +0.6) until ``switch`` and revert (-0.6) after it;
xgb (few boosting rounds) is trained on the trend and put in PRODUCTION. Then bar by bar, on a
simulated clock: the shadow evaluator scores the matured labels, the served slot votes on the
bar's features (the production version, and a challenger if the registry has one in SHADOW or
CANARY), and the scheduler runs the learning daemon (decay- and schedule-triggered trainings in
a thread worker, landing deterministically), the validation gate and the rollout rule, all the
production code. The registry's history says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.training import training_dataset
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.workers import ThreadWorker
from quantum_trader.data.synthetic import RegimeSpec, SyntheticConfig, generate_market
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.daemon import LearningConfig, LearningDaemon
from quantum_trader.learning.gate import ValidationGate
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage, StageChange
from quantum_trader.learning.rollout import (
    RolloutConfig,
    RolloutController,
    SlotBook,
    challenged,
)
from quantum_trader.learning.serving import LoadedMember, load_member
from quantum_trader.learning.shadow import ShadowEvaluator
from quantum_trader.learning.trainers import FitOptions, TrainingWindow, fit
from quantum_trader.models.ensemble.loading import tabular_loader
from quantum_trader.models.ensemble.member import Member, VoteContext
from quantum_trader.models.tabular import XgbModel

TF = MS_PER_HOUR
HORIZON = 4
LABELS = LabelSpec(horizon=HORIZON, dead_zone=0.001)
FAST = {"num_boost_round": 30}
REGIMES = (
    RegimeSpec("TREND", 0.0, 1.0, momentum=0.6),
    RegimeSpec("REVERT", 0.0, 1.0, momentum=-0.6),
)
#: no change at the "switch": the production model stays right
STEADY = (
    RegimeSpec("TREND", 0.0, 1.0, momentum=0.6),
    RegimeSpec("TREND-AGAIN", 0.0, 1.0, momentum=0.6),
)


@dataclass(frozen=True, slots=True)
class LoopResult:
    history: list[StageChange]
    switch_at: int  # engine time of the regime switch
    promoted_at: int | None  # first PRODUCTION move after bootstrap (engine time)
    trainings: int

    def labels_to_production(self) -> int | None:
        """Labels matured between the switch and the first promotion (one per bar)."""
        if self.promoted_at is None:
            return None
        return (self.promoted_at - self.switch_at) // TF


def run_loop(
    seed: int,
    tmp: Path,
    *,
    candles: int = 6_000,
    switch: int = 1_800,
    boot: int = 1_500,
    regimes: tuple[RegimeSpec, ...] = REGIMES,
    shuffle_labels: bool = False,
    schedule_days: float | None = None,
    clone_shadow: bool = False,
    learn: bool = True,
) -> LoopResult:
    """Run the loop on seed ``seed``; ``shuffle_labels`` trains every candidate on labels
    shuffled within its window (a candidate that learned nothing real); ``clone_shadow`` puts
    a twin of the production version (same rows, another seed of its row and column sampling)
    in the shadow at the start (an A/A test); ``learn``
    False leaves the daemon out."""
    config = SyntheticConfig(
        seed=seed,
        candles=candles,
        regimes=regimes,
        schedule=((0, 0), (switch, 1)),
        jump_probability=0.0,
    )
    tmp.mkdir(parents=True, exist_ok=True)
    [series] = generate_market(config, ["BTCUSDT"])
    symbol, frame = series.symbol, series.frame
    start = int(frame["open_time"].iloc[0])
    clock = SimulatedClock(start)
    engine = open_database(f"sqlite:///{tmp / f'loop-{seed}.db'}")
    registry = ModelRegistry(SqlRegistryRepository(engine), clock)
    store = LocalArtifactStore(tmp / f"artifacts-{seed}")
    key = ModelKey("xgb", symbol, HORIZON)
    load = tabular_loader(XgbModel)

    def read(_symbol: str, first: int, until: int) -> Dataset:
        closes = frame["open_time"] + TF
        window = frame[(frame["open_time"] >= first) & (closes <= until)].reset_index(drop=True)
        data = training_dataset(symbol, "1h", window, None, None, LABELS)
        if not shuffle_labels:
            return data
        return _shuffled(data, seed)

    whole = training_dataset(symbol, "1h", frame, None, None, LABELS)
    # rows whose labels closed before bar ``boot``
    boot_data = whole.rows(0, int(np.searchsorted(whole.open_time, start + (boot - HORIZON) * TF)))
    fitted = fit("xgb", TrainingWindow(dataset=boot_data), FitOptions(params=FAST), store)
    v1 = registry.register(fitted.metadata, fitted.digest, actor="test", reason="bootstrap")
    registry.promote(key, v1.version, actor="test", reason="bootstrap", to=Stage.PRODUCTION)
    if clone_shadow:  # the same model and rows, another seed: as good as the champion
        params = {**FAST, "seed": seed + 1_000}
        twin = fit("xgb", TrainingWindow(dataset=boot_data), FitOptions(params=params), store)
        clone = registry.register(twin.metadata, twin.digest, actor="test", reason="A/A")
        registry.promote(key, clone.version, actor="test", reason="A/A", to=Stage.SHADOW)

    def member(k: ModelKey, version: int | None) -> Member:
        chosen = registry.production(k) if version is None else registry.get(k, version)
        assert chosen is not None
        return load(store.open(chosen.artifact_hash), None)

    evaluator = ShadowEvaluator(HORIZON, TF)
    book = SlotBook(evaluator, {}, HORIZON)
    slot = book.wrap(symbol, member(key, None), v1.version)

    class _Ensemble:  # the one slot, swapped as the production watcher would
        def replace(self, new: Member, _version: int | None) -> Member:
            nonlocal slot
            old, slot = slot, new  # type: ignore[assignment]
            return old

    holder = _Ensemble()

    def serve_production(_now: int) -> None:
        production = registry.production(key)
        if production is not None and production.version != slot.champion_version:
            loaded = LoadedMember(member(key, production.version), production.version)
            book.swap(holder, symbol, loaded)  # type: ignore[arg-type]

    def load_stage(k: ModelKey, stage: Stage) -> LoadedMember:
        return load_member(k.model, k, registry, store, None, {"xgb": load}, stage=stage)

    scheduler = Scheduler(clock)
    gate = ValidationGate(registry, member, HORIZON)
    learning = LearningConfig(
        horizon=HORIZON,
        timeframe_ms=TF,
        check_ms=6 * TF,
        schedule_ms=None if schedule_days is None else round(schedule_days * MS_PER_DAY),
        min_gap_ms=2 * MS_PER_DAY,
        train_ms=25 * MS_PER_DAY,
        validation_rows=200,
        fit_params=FAST,
    )
    daemon = LearningDaemon(
        learning,
        [key],
        read,
        store,
        registry,
        lambda c: gate(c.version, c.validation),
        decayed=evaluator.decayed,
        busy=lambda k: challenged(registry, k),
        started_at=start,
    )
    worker = ThreadWorker("loop")
    first_bar = boot
    if learn:
        daemon.start(scheduler, worker, start + first_bar * TF)
    controller = RolloutController(
        registry,
        evaluator,
        book,
        load_stage,
        config=RolloutConfig(min_matured=100),
        serve_production=serve_production,
    )
    scheduler.every("rollout", 6 * TF, controller.check, start_at=start + first_bar * TF)

    row_of = {int(t): i for i, t in enumerate(whole.open_time)}  # warm-up rows are not there

    def label(_symbol: str, prediction_time: int) -> int | None:
        i = row_of.get(prediction_time)
        value = whole.y[i] if i is not None else np.nan
        return None if np.isnan(value) else int(value)

    for bar in range(first_bar, candles - HORIZON - 1):
        now = start + (bar + 1) * TF
        clock.advance_to(now)
        evaluator.resolve(now, label, [symbol])
        row = row_of.get(start + bar * TF)
        if row is not None:
            slot.vote(symbol, VoteContext(now, features=whole.x[row]))
            slot.ask_deferred()  # as the pipeline does after each decision
        scheduler.run_due(now)
    worker.shutdown()
    history = registry.history(key)
    engine.dispose()
    promotions = [
        c.at for c in history if c.to_stage is Stage.PRODUCTION and c.actor == "rule:rollout"
    ]
    trainings = sum(1 for c in history if c.actor == "rule:continuous-learning")
    return LoopResult(
        history, start + switch * TF, promotions[0] if promotions else None, trainings
    )


def _shuffled(data: Dataset, seed: int) -> Dataset:
    labelled = np.flatnonzero(~np.isnan(data.y))
    y = data.y.copy()
    y[labelled] = y[np.random.default_rng(seed).permutation(labelled)]
    return Dataset(
        data.symbol, data.timeframe, data.names, data.open_time, data.x, y,
        data.forward_return, data.label_spec,
    )  # fmt: skip
