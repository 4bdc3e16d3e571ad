"""Wires continuous learning (module 10) and the shadow models (module 9) into a run.

``CONTINUOUS_LEARNING_ENABLED`` starts the learning daemon (``learning/daemon.py``): its
trainings read the run's candle store up to the trigger's engine time, and each candidate goes
through the validation gate (``learning/gate.py``) to SHADOW, or is retired with the gate's
figures as the reason; its trading check replays the window through the main job
(``app/gate_replays.py``) when the entry point handed down how, and every validation is a row
of the trial ledger (``app/validation_trials.py``) the main job hands down. ``MODEL_SUPERVISOR_ENABLED`` watches every served member
(``learning/challenger.py``, ``learning/shadow.py``) and runs the rollout rule
(``learning/rollout.py``) on the engine clock. Both keep their state under the run's id.
The logic lives in ``learning/``; this module only builds and connects it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.app import configs
from quantum_trader.app.gate_replays import EngineTradingScorer, WindowReplay
from quantum_trader.app.runtime import Runtime
from quantum_trader.app.training import training_dataset, universe_features
from quantum_trader.app.training_backend import log_started, training_worker
from quantum_trader.app.validation_trials import validation_trial
from quantum_trader.clock.clock import is_simulated
from quantum_trader.decision.parts import LabelListener
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, timeframe_ms
from quantum_trader.evaluation.ledger import TrialLedger
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.learning.daemon import LearningConfig, LearningDaemon, ReadDataset
from quantum_trader.learning.forecaster_lines import ForecasterConfig, ReadCloses, WindowRows
from quantum_trader.learning.gate import GateConfig, ValidationGate
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.rollout import RolloutController, SlotBook, challenged
from quantum_trader.learning.serving import LoadedMember, load_member
from quantum_trader.learning.shadow import ShadowEvaluator
from quantum_trader.learning.trainers import (
    FORECAST_SCOPE,
    ArtifactStore,
    Closes,
    FamilyKind,
    family,
    names_of,
)
from quantum_trader.learning.triggers import TriggerInbox
from quantum_trader.learning.watcher import ProductionWatcher, Swap
from quantum_trader.lifecycle import ComponentContext, Hooks, Lifecycle
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.loading import MemberLoader
from quantum_trader.models.ensemble.member import Member

#: how often (engine time) the rollout rule reads the evidence
ROLLOUT_CHECK_MS = MS_PER_HOUR
CROSS_ASSET = "BTCUSDT"


def store_reader(
    store: CandleStore,
    timeframe: str,
    labels: LabelSpec,
    symbols: Sequence[str],
    features: FeatureConfig | None = None,
) -> ReadDataset:
    """A symbol's training dataset from the store: candles closing at or before ``until``,
    with the same inputs as bootstrap training (``app/datasets.py``): its funding, and the
    cross-asset candles where the run trades that symbol; with the universe features, every
    one of ``symbols``' candles and funding of the window too (they rank it among them)."""
    step = timeframe_ms(timeframe)

    def frame(symbol: str, first: int, until: int) -> pd.DataFrame:
        return store.load(symbol, timeframe, start=first, end=until - step + 1)

    def funding_of(symbol: str, first: int, until: int) -> pd.DataFrame | None:
        return store.load_funding(symbol, first, until + 1) if store.has_funding(symbol) else None

    def read(symbol: str, first: int, until: int) -> Dataset:
        candles, funding = frame(symbol, first, until), funding_of(symbol, first, until)
        market = frame(CROSS_ASSET, first, until) if CROSS_ASSET in symbols else None
        together = None
        if features is not None and features.universe:
            others = [s for s in dict.fromkeys(symbols) if s != symbol]
            together = universe_features(
                timeframe,
                {symbol: candles} | {s: frame(s, first, until) for s in others},
                {symbol: funding} | {s: funding_of(s, first, until) for s in others},
                market,
                features,
            )
        return training_dataset(
            symbol,
            timeframe,
            candles,
            funding,
            market,
            labels,
            features,
            None if together is None else together[symbol],
        )

    return read


def store_closes_reader(store: CandleStore, timeframe: str) -> ReadCloses:
    """A symbol's closes from the store, of candles closing at or before ``until``: what a
    forecaster line trains on (``learning/forecaster_lines.py``)."""
    step = timeframe_ms(timeframe)

    def read(symbol: str, first: int, until: int) -> Closes:
        frame = store.load(symbol, timeframe, start=first, end=until - step + 1)
        return Closes(
            symbol, frame["open_time"].to_numpy(np.int64), frame["close"].to_numpy(np.float64)
        )

    return read


class ContinuousLearning:
    """Modules 9 and 10 of one run (either may be off)."""

    def __init__(
        self,
        rt: Runtime,
        lifecycle: Lifecycle,
        registry: ModelRegistry,
        artifacts: ArtifactStore,
        loaders: Mapping[str, MemberLoader],
        scopes: Mapping[str, str],
        read: ReadDataset | None,
        read_closes: ReadCloses | None = None,  # None: the forecaster lines are not retrained
        replay: WindowReplay | None = None,
        ledger: TrialLedger | None = None,
    ) -> None:
        settings = rt.settings
        self.rt = rt
        self.replay = replay  # the gate's trading replays (None: it judges log-loss alone)
        self.ledger = ledger  # where validations are recorded (None: nowhere, a synthetic run)
        self.lifecycle = lifecycle
        self.registry = registry
        self.artifacts = artifacts
        self.loaders = loaders
        self.read = read
        self.read_closes = read_closes
        self.horizon = settings.label_horizon
        self.tf = timeframe_ms(settings.timeframe)
        self.learning_on = settings.continuous_learning_enabled and read is not None
        self.shadow = rt.register(
            "shadow_models", "candidates at 0 %, then canary shares, on matured labels"
        )
        self.daemon_handle = rt.register(
            "continuous_learning", "retrains on schedule, drift, shift and decay; gated"
        )
        self.evaluator: ShadowEvaluator | None = None
        self.book: SlotBook | None = None
        self.controller: RolloutController | None = None  # once started
        if settings.model_supervisor_enabled:
            self.evaluator = ShadowEvaluator(self.horizon, self.tf, handle=self.shadow)
            self.book = SlotBook(self.evaluator, scopes, self.horizon)

    # --- serving ---------------------------------------------------------------------------
    def watch(self, symbol: str, loaded: Sequence[LoadedMember]) -> list[LoadedMember]:
        """Each served member inside a watched slot (disabled ones stay as they are)."""
        if self.book is None:
            return list(loaded)
        return [
            LoadedMember(self.book.wrap(symbol, m.member, m.version), m.version, m.refused)
            if m.version is not None
            else m
            for m in loaded
        ]

    def attach(self, symbol: str, ensemble: Ensemble) -> None:
        if self.book is not None:
            self.book.attach(symbol, ensemble)

    @property
    def swap(self) -> Swap | None:
        """How the production watcher serves a new version: into the watched slot."""
        return self.book.swap if self.book is not None else None

    def after_decision(self) -> list[Callable[[], object]]:
        return [] if self.book is None else [self.book.ask_deferred]

    def label_listeners(self) -> list[LabelListener]:
        return [] if self.evaluator is None else [self.evaluator.resolve]

    def start(self, watcher: ProductionWatcher, symbols: Sequence[str]) -> None:
        """Schedule the rollout and the daemon on the run's clock, with their state saved."""
        repo = SqlIntelligenceStateRepository(self.rt.db)
        run = self.rt.run_id
        if self.evaluator is not None and self.book is not None:
            evaluator = self.evaluator
            controller = self.controller = RolloutController(
                self.registry,
                evaluator,
                self.book,
                self._load,
                serve_production=watcher.refresh,
                handle=self.shadow,
                on_replay_time=lambda: is_simulated(self.rt.clock),
            )
            self.lifecycle.start(
                Hooks(
                    "shadow_models.rollout",
                    start=lambda ctx: ctx.scheduler.every(
                        "shadow_models.rollout",
                        ROLLOUT_CHECK_MS,
                        controller.check,
                        start_at=ctx.clock.now() + ROLLOUT_CHECK_MS,
                        catch_up=False,
                    ),
                    stop=lambda: repo.save(
                        f"shadow/{run}", json.dumps(evaluator.to_state()), self.rt.clock.now()
                    ),
                )
            )
        if self.learning_on:
            self._start_daemon(symbols, repo)

    def _start_daemon(self, symbols: Sequence[str], repo: SqlIntelligenceStateRepository) -> None:
        settings = self.rt.settings
        assert self.read is not None
        schedule = settings.retrain_schedule_days
        config = LearningConfig(
            horizon=self.horizon,
            timeframe_ms=self.tf,
            check_ms=settings.retrain_check_minutes * MS_PER_MINUTE,
            schedule_ms=round(schedule * MS_PER_DAY) if schedule > 0 else None,
            min_gap_ms=round(settings.retrain_min_gap_hours * MS_PER_HOUR),
            train_ms=settings.train_days * MS_PER_DAY,
            seed=settings.seed,
        )
        tabular = [m for m in settings.ensemble_models if m in names_of(FamilyKind.TABULAR)]
        lines = [ModelKey(m, s, self.horizon) for s in symbols for m in tabular]
        forecasters = None
        if self.read_closes is not None:
            deep = [m for m in settings.ensemble_models if m in names_of(FamilyKind.FORECASTER)]
            lines += [ModelKey(m, FORECAST_SCOPE, self.horizon) for m in deep]
            forecasters = (self._forecaster_config(symbols), self.read_closes)
        evaluator = self.evaluator
        run = self.rt.run_id
        trading = None
        if self.replay is not None:
            folder = settings.home / "validations" / run
            trading = EngineTradingScorer(
                self.replay, settings, self.registry, self.artifacts, symbols, folder, run
            )
        ledger = self.ledger
        gate = ValidationGate(
            self.registry,
            self._gate_member,
            self.horizon,
            GateConfig(seed=settings.seed),
            handle=self.daemon_handle,
            trading=trading,
            record=(
                None
                if ledger is None
                else lambda v: ledger.record(validation_trial(v, seed=settings.seed, parent=run))
            ),
        )
        worker = training_worker(
            settings,
            "continuous-learning",
            self.rt.training_pause,
            self.daemon_handle,
            processes=settings.training_processes,
        )
        daemon = LearningDaemon(
            config,
            lines,
            self.read,
            self.artifacts,
            self.registry,
            lambda c: gate(c.version, c.validation),
            inbox=TriggerInbox(self.rt.bus),
            decayed=(lambda: evaluator.decayed()) if evaluator is not None else None,
            busy=lambda key: challenged(self.registry, key),
            handle=self.daemon_handle,
            started_at=self.rt.clock.now(),
            # saved after each check that changed it, so a kill -9 loses at most one check
            repository=repo,
            state_key=f"learning/{self.rt.run_id}",
            forecasters=forecasters,
        )

        def start(ctx: ComponentContext) -> None:
            worker.start()
            log_started(worker)
            daemon.start(ctx.scheduler, worker, ctx.clock.now() + config.check_ms)

        def stop() -> None:
            worker.shutdown()
            state = json.dumps(daemon.to_state())
            repo.save(f"learning/{self.rt.run_id}", state, self.rt.clock.now())

        self.lifecycle.start(Hooks("continuous_learning", start=start, stop=stop))

    def _forecaster_config(self, symbols: Sequence[str]) -> ForecasterConfig:
        settings = self.rt.settings
        return ForecasterConfig(
            configs.labels(settings),
            tuple(symbols),
            settings.timeframe,
            warm_start=settings.forecaster_warm_start,
            warm_epochs=settings.forecaster_warm_epochs,
            warm_days=settings.forecaster_warm_days,
        )

    def _gate_member(self, key: ModelKey, version: int | None) -> Member:
        """The gate's member: a forecaster reads each held-out row as its close window."""
        member = self._member(key, version)
        return WindowRows(member) if family(key.model).kind is FamilyKind.FORECASTER else member

    def _load(self, key: ModelKey, stage: Stage) -> LoadedMember:
        """The newest version of ``key`` in ``stage`` as a member (the rollout's loader)."""
        return load_member(
            key.model, key, self.registry, self.artifacts, None, self.loaders, stage=stage
        )

    def _member(self, key: ModelKey, version: int | None) -> Member:
        """A version of ``key`` (None: its PRODUCTION version) as a member (the gate's)."""
        if version is None:
            return self._load(key, Stage.PRODUCTION).member
        found = self.registry.get(key, version)
        return self.loaders[key.model](self.artifacts.open(found.artifact_hash), None)
