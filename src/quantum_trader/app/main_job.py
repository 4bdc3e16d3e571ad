"""The main job behind ``quantum-trader run``.

1. find market data (store, ``QT_DATA_DIR``, or ``--synthetic`` when asked);
2. train any enabled model line without a PRODUCTION version, on the ``QT_TRAIN_DAYS`` before
   the replay (never on replayed candles);
3. paper-trade the last ``QT_REPLAY_DAYS`` through the full decision pipeline on the simulated
   clock, with the simulated exchange, every order persisted;
4. unless ``QT_OFFLINE`` or ``--synthetic``: go on in the same run with live closed candles from
   Binance USDT-M on the wall clock, until Ctrl-C (``engine/live_phase.py``);
5. write metrics, trades and the HTML report, and leave every module's status in the database.

Each step is a stage below; the decision path is built by ``app/compose.py`` and the report by
``app/run_report.py``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.artifact_retention import run_pruning
from quantum_trader.app.backtest_trials import backtest_trial, settings_config
from quantum_trader.app.challengers import Challengers, attach_challengers
from quantum_trader.app.compose import PipelineComposer, labels, register_decision_modules
from quantum_trader.app.configs import exchange_config, feature_config, funding_config
from quantum_trader.app.continuous_learning import store_closes_reader, store_reader
from quantum_trader.app.data_sources import ReplayData, load_replay_data
from quantum_trader.app.datasets import funding_rates, shift_references, training_datasets
from quantum_trader.app.gate_replays import WindowReplay
from quantum_trader.app.live import LiveConnection
from quantum_trader.app.live_candles import keep_in_store, with_live
from quantum_trader.app.operator_log import OperatorLog, log_run_failure
from quantum_trader.app.rl_agents import RLSources
from quantum_trader.app.run_lock import hold_run_lock
from quantum_trader.app.run_options import RunOptions
from quantum_trader.app.run_report import run_summary, write_outputs_in_worker
from quantum_trader.app.runtime import Runtime, build_runtime, given_or_new_run_id
from quantum_trader.app.serving_health import Unserved, check_servable
from quantum_trader.app.storage import open_settings_database
from quantum_trader.app.training import (
    TrainingReport,
    ensure_forecast_models,
    ensure_tabular_models,
)
from quantum_trader.app.venue import VenueWiring, check_venue_gate, venue_wiring
from quantum_trader.clock.clock import ReplayThenWallClock
from quantum_trader.config.settings import Settings
from quantum_trader.decision.inputs import PipelineConfig
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.time import fmt
from quantum_trader.engine.live_phase import (
    LivePhase,
    LiveReport,
    OnProgress,
    hold_entries_on_rejoin,
)
from quantum_trader.engine.metrics import Metrics
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.evaluation.ledger import TrialLedger
from quantum_trader.intelligence.covariate_shift import ShiftReference
from quantum_trader.intelligence.shift_stats import single_threaded_blas
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.lifecycle import ComponentContext, Hooks, Lifecycle
from quantum_trader.observability.logging import get_logger
from quantum_trader.risk.engine import engine_actor
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)


#: candles before the replay used to backfill indicators (the regime detector needs ~300)
WARM_UP_CANDLES = 500
#: how often live features are compared with the training reference (engine time)
SHIFT_CHECK_INTERVAL_MS = 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    origin: str
    synthetic: bool
    summary: dict[str, Any]
    runtime: Runtime
    replay_start: int  # open time of the first replayed candle
    metrics: Metrics | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    training: tuple[TrainingReport, ...] = ()
    latencies_ns: tuple[int, ...] = ()  # per decision, when asked for
    replay_seconds: float = 0.0
    session: SessionResult | None = None  # equity curve, trades and fills of the replay
    trial_id: int | None = None  # the replay's trial in the ledger, when recorded


@dataclass(slots=True)
class _Run:
    """What the stages of one run share."""

    settings: Settings
    data: ReplayData
    rt: Runtime
    store: CandleStore
    clock: ReplayThenWallClock | None
    off: str | None  # why the run does not go live (None: it does)
    options: RunOptions
    lifecycle: Lifecycle
    handles: dict[str, ModuleHandle]
    registry: ModelRegistry
    artifacts: LocalArtifactStore
    unserved: list[Unserved] = field(default_factory=list)  # members disabled at load
    challengers: Challengers | None = None  # the challengers' shadow accounts
    gate_replay: WindowReplay | None = None  # the validation gate's trading replays
    validations: TrialLedger | None = None  # where the gate records (None: nowhere)


def run_main_job(
    settings: Settings,
    *,
    synthetic: bool = False,
    run_id: str | None = None,
    on_stage: OnProgress | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    record_latency: bool = False,
    connection: LiveConnection | None = None,
    window: tuple[int, int] | None = None,
    embargo_candles: int = 0,
    write_report: bool = True,
    ledger: TrialLedger | None = None,
    options: RunOptions | None = None,
    gate_replay: WindowReplay | None = None,
) -> RunResult:
    """Train what is missing, replay the last ``replay_days`` through the pipeline, go on live
    unless offline (``connection``: the exchange, wall clock and sleep; ccxt and the system's by
    default), report. With ``window`` = [start, end) (epoch ms) it replays the candles opening
    in it instead and never goes live (``backtest --strategy ai``, ``evaluate --system``).
    ``embargo_candles``: the models are trained without the last candles before the replay (the
    indicators still warm up on them); ``write_report=False`` skips the files. With ``ledger``
    the replay is recorded there as a ``backtest`` trial named ``system`` (not a synthetic
    market's: it says nothing of a configuration's chances), as is each validation of the
    learning gate (without ``ledger``: in the run's database).
    ``options``: ``paper``'s pacing, kill switch and live candle limit (:class:`RunOptions`).
    ``gate_replay``: the gate's trading replays (``app/gate_replays.py``; None: log-loss only)."""
    stage = on_stage or (lambda _text: None)
    single_threaded_blas()  # the serving process's small products (shift_stats.py says why)
    connection = connection or LiveConnection()
    if window is None:  # a window's replay never goes live; a run's may reach a venue
        check_venue_gate(settings, (options or RunOptions()).confirm)
    try:  # refused (another engine runs) or failed reading its data: logged like any failure
        run = _open(settings, synthetic, run_id, connection, stage, window, options or RunOptions())
    except BaseException as exc:
        log_run_failure(exc)
        raise
    try:
        trained = _train(run, stage, embargo_candles)
        run.gate_replay = gate_replay
        run.validations = None if run.data.synthetic else (ledger or SqlTrialLedger(run.rt.db))
        pipeline, session, live = _compose(run, trained, connection, stage)
        if record_latency:
            pipeline.latencies_ns = []
        _warm_up(run, pipeline, stage)
        if on_start is not None:
            on_start(len(session.feed))
        result, seconds, summary = _replay_and_stop(
            run, pipeline, session, live, trained, stage, on_progress
        )
    except BaseException as exc:  # a run that failed before its replay must not stay RUNNING
        run.rt.abort("INTERRUPTED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        log_run_failure(exc)
        raise
    outputs: dict[str, Path] = {}
    if write_report:
        stage("writing metrics, trades and the HTML report (worker process)")
        frames = with_live(run.data.frames, live.candles if live is not None else [])
        # a window is a backtest's (``backtest --strategy ai``); the report's title says so
        summary["produced_by"] = run.options.produced_by or (
            "backtest" if window is not None else "run"
        )
        outputs = write_outputs_in_worker(
            result, frames, settings.home / "runs" / run.rt.run_id, summary
        )
    trial_id = None
    if ledger is not None and not run.data.synthetic:
        trial = backtest_trial(
            result,
            name="system",
            config=settings_config(settings),
            symbols=list(run.data.frames),
            timeframe=settings.timeframe,
            seed=settings.seed,
            parent=run.rt.run_id,
        )
        trial_id = None if trial is None else ledger.record(trial)
    return RunResult(
        run.rt.run_id,
        run.data.origin,
        run.data.synthetic,
        summary,
        run.rt,
        run.data.replay_start,
        metrics=result.metrics,
        outputs=outputs,
        training=tuple(trained.reports),
        latencies_ns=tuple(pipeline.latencies_ns or ()),
        replay_seconds=seconds,
        session=result,
        trial_id=trial_id,
    )


def _open(
    settings: Settings,
    synthetic: bool,
    run_id: str | None,
    connection: LiveConnection,
    stage: OnProgress,
    window: tuple[int, int] | None,
    options: RunOptions,
) -> _Run:
    """Take the engine lock, load the market data and start the run: runtime, status,
    registry and lifecycle."""
    run_id = given_or_new_run_id(run_id)
    db = open_settings_database(settings)
    # a second engine on this database is refused before it reads or writes anything
    lock = hold_run_lock(db, run_id)
    try:
        store = CandleStore(settings.effective_store_dir)
        artifacts = LocalArtifactStore(settings.effective_artifacts_dir)
        # holding the lock, nobody else writes here: what a crashed write left can go
        swept = store.sweep_temporary() + artifacts.sweep_incoming()
        stage("loading market data")
        data = load_replay_data(settings, store, synthetic=synthetic, window=window)
        start = data.replay_start
        off = live_off_reason(settings, synthetic, window)
        # one clock for every module: simulated through the replay, the wall's after it (live)
        clock = None if off else ReplayThenWallClock(start, connection.wall)
        rt = build_runtime(
            settings,
            mode="replay" if off else "replay+live",
            start_ms=start,
            run_id=run_id,
            clock=clock,
            db=db,
            lock=lock,
        )
    except BaseException:
        lock.release()
        raise
    try:
        market = rt.modules["market_data"]
        for counter, n in store.counters.values.items():  # the loads and imports done above
            market.count(counter, n)
        if swept:
            market.count("crash_leftovers_removed", swept)
        rt.start()
        lifecycle = Lifecycle(ComponentContext(rt.clock, rt.scheduler, rt.bus, rt.status))
        # started first, stopped last: it hears every other component's last events
        operator_log = OperatorLog(rt.clock)
        lifecycle.start(
            Hooks(
                "operator_log",
                start=lambda ctx: operator_log.attach(ctx.bus),
                stop=operator_log.close,
            )
        )
        lifecycle.start(run_pruning(rt, artifacts))  # stops after every trainer
        handles = register_decision_modules(rt)
        registry = ModelRegistry(SqlRegistryRepository(rt.db), rt.clock)
    except BaseException as exc:
        rt.abort("INTERRUPTED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    log.info(
        "run.start",
        mode=rt.mode,
        data=data.origin,
        synthetic=data.synthetic,
        symbols=list(data.frames),
        models=list(settings.ensemble_models),
        replay_start=fmt(start),
        live=off or "after the replay",
    )
    return _Run(
        settings, data, rt, store, clock, off, options, lifecycle, handles, registry, artifacts
    )


@dataclass(frozen=True, slots=True)
class _Trained:
    reports: list[TrainingReport]
    references: dict[str, ShiftReference]  # each symbol's training features, summarised
    symbols: list[str]


def _train(run: _Run, stage: OnProgress, embargo_candles: int = 0) -> _Trained:
    """Train every enabled model line that has no PRODUCTION version (bootstrap), and summarise
    the training features for the covariate-shift monitor. The last ``embargo_candles`` of the
    history are left out of training (the labels of the candles before them end there, too)."""
    settings, data, handles, history = run.settings, run.data, run.handles, run.data.history
    if embargo_candles > 0:
        history = {s: f.iloc[:-embargo_candles].reset_index(drop=True) for s, f in history.items()}
    stage("building training datasets")
    datasets = training_datasets(settings, data, history)
    training = ensure_tabular_models(
        settings.ensemble_models,
        datasets,
        horizon=settings.label_horizon,
        registry=run.registry,
        artifacts=run.artifacts,
        clock=run.rt.clock,
        handles=handles,
        on_train=lambda what: stage(f"training {what}"),
        actor=engine_actor(run.rt.run_id),
        serves_from=data.replay_start,
    )
    training += ensure_forecast_models(
        settings.ensemble_models,
        history,
        labels=labels(settings),
        registry=run.registry,
        artifacts=run.artifacts,
        seed=settings.seed,
        handles=handles,
        on_train=lambda what: stage(f"training {what}"),
        actor=engine_actor(run.rt.run_id),
        serves_from=data.replay_start,
    )
    for report in training:
        handles["model_registry"].count(
            "versions_registered" if report.trained else "production_versions_found"
        )
        if report.trained:
            log.info(
                "model.trained",
                line=str(report.key),
                version=report.version,
                rows=report.rows,
                seconds=round(report.seconds, 1),
                promoted="PRODUCTION",
                by=engine_actor(run.rt.run_id),
            )
    found = [r for r in training if not r.trained]
    if found:
        log.info("models.production_found", lines=len(found), trained=len(training) - len(found))
    # the training features have served: let them go before the models load (never both held)
    references = shift_references(settings, datasets)
    symbols = list(datasets)
    del datasets
    gc.collect()
    return _Trained(training, references, symbols)


def _compose(
    run: _Run, trained: _Trained, connection: LiveConnection, stage: OnProgress
) -> tuple[DecisionPipeline, TradingSession, LivePhase | None]:
    """The decision pipeline (``app/compose.py``) on a trading session, with the live phase
    after the replay when the run goes live; each started through the run's lifecycle."""
    settings, rt, data = run.settings, run.rt, run.data
    composer = PipelineComposer(
        rt,
        run.lifecycle,
        run.registry,
        run.artifacts,
        trained.symbols,
        trained.references,
        run.handles,
        kill_switch=run.options.kill_switch,
        read_training=(
            store_reader(
                run.store,
                settings.timeframe,
                labels(settings),
                list(data.frames),
                feature_config(settings),
            )
            if settings.continuous_learning_enabled
            else None
        ),
        read_closes=(
            store_closes_reader(run.store, settings.timeframe)
            if settings.continuous_learning_enabled
            else None
        ),
        gate_replay=run.gate_replay,
        ledger=run.validations,
    )
    funding = funding_rates(data)
    pipeline = DecisionPipeline(
        PipelineConfig(
            settings.timeframe, labels=labels(settings), features=feature_config(settings)
        ),
        composer,
        symbols=list(data.frames),
        funding=funding,
    )
    live, wiring = None, VenueWiring()
    if run.clock is not None:
        switch = run.options.kill_switch or SqlRiskRepository(rt.db)
        wiring = venue_wiring(settings, data.frames, funding, rt.clock, run.options.remote, switch)
        wiring.crashed_runs = rt.lock.acquired.crashed if rt.lock is not None else ()
        live = LivePhase(
            run.clock,
            rt.scheduler,
            list(data.frames),
            settings.timeframe,
            connection,
            poll_s=settings.live_poll_seconds,
            keep=keep_in_store(run.store, settings.timeframe),
            on_stage=stage,
            max_candles=run.options.live_max_candles,
            on_current=wiring.on_current,
            market_data=rt.modules["market_data"],
            on_rejoin=hold_entries_on_rejoin(
                lambda: composer.risk, feature_config(settings), settings.timeframe
            ),
        )
    session = TradingSession(
        session_config(settings, rt.run_id, throttle_s=run.options.throttle_s),
        data.frames,
        pipeline,  # binding it builds its parts (composer) and starts them
        funding_rates=funding,
        store=SqlExecutionStore(rt.db),
        status=rt.status,
        clock=rt.clock,
        bus=rt.bus,
        scheduler=rt.scheduler,
        market_data=rt.modules["market_data"],
        then=live,
        venue=wiring.factory,
        # the batched risk decisions go first: no checkpoint commits an order without its approval
        before_commit=composer.flush_journals,
        pause=rt.training_pause.paused,
        source=run.options.replay_source(data.frames, settings.timeframe),  # None: the frames
    )
    run.unserved = composer.unserved
    wiring.attach(  # a real venue's reconciliation and write-ahead commits (app/venue.py)
        session.orders,
        rt.scheduler,
        composer.risk,
        store=session.store,
        commit=lambda: session.checkpoints.commit(finished=False),
        status=rt.status.get("execution") if "execution" in rt.status else None,
        entry_gate=lambda: pipeline.parts.entry_gate if pipeline.parts is not None else None,
    )
    run.challengers = attach_challengers(
        rt,
        composer.learning,
        pipeline,
        session,
        run.store,
        funding,
        run.options.kill_switch,
        run.lifecycle,
        warm_up=WARM_UP_CANDLES,
        sources=RLSources(
            composer.registry, composer.artifacts, run.store, funding, composer.ledger
        ),
    )
    run.lifecycle.start(Hooks("decision_pipeline", stop=pipeline.close))
    run.lifecycle.start(
        Hooks(
            "covariate_shift.check",
            start=lambda ctx: ctx.scheduler.every(
                "covariate_shift.check",
                SHIFT_CHECK_INTERVAL_MS,
                pipeline.check_covariate_shift,
                start_at=data.replay_start + SHIFT_CHECK_INTERVAL_MS,
                catch_up=False,
            ),
        )
    )
    if live is not None:
        run.lifecycle.start(Hooks("live_phase", stop=live.close))
    # stopped first: no job runs and no worker computes while the others stop
    run.lifecycle.start(Hooks("scheduler", stop=rt.scheduler.stop))
    return pipeline, session, live


def session_config(settings: Settings, run_id: str, *, throttle_s: float = 0.0) -> SessionConfig:
    return SessionConfig(
        timeframe=settings.timeframe,
        initial_balance=settings.initial_balance,
        exchange=exchange_config(settings),
        funding=funding_config(settings),
        run_id=run_id,
        # the pipeline cannot resume a replay mid-way (it is run again), so the replay commits
        # its orders, fills and ledger every checkpoint_every candles and at the end
        commit_on_change=False,
        throttle_s=throttle_s,
    )


def _warm_up(run: _Run, pipeline: DecisionPipeline, stage: OnProgress) -> None:
    """Backfill the indicators on the candles before the replay, then let the history go: the
    serving process does not keep a year of candles and features per symbol through the
    replay."""
    stage("warming indicators on the candles before the replay")
    warm = {s: f.tail(WARM_UP_CANDLES) for s, f in run.data.history.items()}
    run.rt.modules["market_data"].count("warm_up_candles", pipeline.warm_up(warm))
    run.data.history.clear()


def _replay_and_stop(
    run: _Run,
    pipeline: DecisionPipeline,
    session: TradingSession,
    live: LivePhase | None,
    trained: _Trained,
    stage: OnProgress,
    on_progress: Callable[[int], None] | None,
) -> tuple[SessionResult, float, dict[str, Any]]:
    """Replay (then live, if the run goes live), stop every component, record the run's end.
    Returns the session's result, the replay's seconds and the run summary."""
    status, result, seconds = "FAILED", None, 0.0
    try:
        if pipeline.parts is not None:  # a run that could place no order stops here, FAILED
            check_servable(pipeline.parts.ensembles, run.unserved, run.handles.get("ensemble"))
        started = time.perf_counter()  # the batch votes are part of the replay's time
        if run.settings.replay_batch_votes:
            stage("computing the replay's model votes in batch")
            pipeline.prepare_replay(session.feed.bars())
        stage("replaying")
        result = session.run(progress=on_progress)
        ended = time.perf_counter()
        if live is not None and live.replay_ended is not None:
            ended = live.replay_ended  # the time spent live is not the replay's
        seconds = ended - started
        status = "FINISHED"
    except KeyboardInterrupt:
        # Ctrl-C during the replay (the live phase ends on Ctrl-C by itself): the run is
        # recorded as interrupted, what was learned and committed stays, and the CLI says so.
        status = "INTERRUPTED"
        raise
    finally:
        try:
            run.lifecycle.stop_all()
        finally:
            summary = _summary(run, pipeline, result, trained, live)
            run.rt.finish(status, summary)
            log.info(
                "run.finish",
                status=status,
                candles=session.engine.stats.candles,
                decisions=summary.get("decisions"),
                orders_sent=summary.get("orders_sent"),
                entries_refused_for_cost=pipeline.stats.cost_rejections,
                risk_decisions=summary.get("risk_decisions"),
                trades=summary.get("trades"),
                total_return=summary.get("metrics", {}).get("total_return"),
                trading_state=summary.get("trading_state"),
                risk_mode=summary.get("risk_mode"),
            )
    assert result is not None  # the try block returned or raised
    return result, seconds, summary


def _summary(
    run: _Run,
    pipeline: DecisionPipeline,
    result: SessionResult | None,
    trained: _Trained,
    live: LivePhase | None,
) -> dict[str, Any]:
    parts = pipeline.parts
    controller = parts.controller if parts is not None else None
    summary = run_summary(
        run.rt.run_id,
        run.settings.timeframe,
        run.data,
        pipeline.stats,
        result,
        trained.reports,
        live.report if live is not None else LiveReport("off", run.off or ""),
        risk_mode=controller.mode.value if controller is not None else "off",
        trading_state=parts.risk.state.value if parts is not None else "?",
    )
    if run.challengers is not None:
        summary |= run.challengers.summary()
    return summary


def live_off_reason(
    settings: Settings, synthetic: bool, window: tuple[int, int] | None = None
) -> str | None:
    """Why the run stops at the end of the replay instead of going live (None: it goes live)."""
    if window is not None:
        return f"a backtest of {fmt(window[0])} → {fmt(window[1])}"
    if settings.offline:
        return "QT_OFFLINE=true"
    if synthetic:
        return "--synthetic: a generated market has no live candles"
    return None
