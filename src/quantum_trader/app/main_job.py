"""The main job behind ``quantum-trader run``.

1. find market data (store, ``QT_DATA_DIR``, or ``--synthetic`` when asked);
2. train any enabled model line without a PRODUCTION version, on the ``QT_TRAIN_DAYS`` before
   the replay (never on replayed candles);
3. paper-trade the last ``QT_REPLAY_DAYS`` through the full decision pipeline on the simulated
   clock, with the simulated exchange, every order persisted;
4. unless ``QT_OFFLINE`` or ``--synthetic``: go on in the same run with live closed candles from
   Binance USDT-M on the wall clock, until Ctrl-C (``app/live.py``);
5. write metrics, trades and the HTML report, and leave every module's status in the database.
"""

from __future__ import annotations

import dataclasses
import gc
import html
import json
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.app.data_sources import ReplayData, load_replay_data
from quantum_trader.app.live import EXCHANGE, CandleSink, LiveConnection, LivePhase, LiveReport
from quantum_trader.app.run_scope import RunScopedModeJournal, RunScopedRiskJournal
from quantum_trader.app.runtime import Runtime, build_runtime
from quantum_trader.app.training import (
    FORECAST_SCOPE,
    TrainingReport,
    ensure_forecast_models,
    ensure_tabular_models,
    training_dataset,
)
from quantum_trader.clock.clock import ReplayThenWallClock
from quantum_trader.config.settings import Settings
from quantum_trader.data.frames import ohlcv_from_rows
from quantum_trader.decision.inputs import PipelineConfig
from quantum_trader.decision.parts import PipelineParts
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.decision.views import IntelligenceWeights, PortfolioRiskView
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.metrics import Metrics
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingConfig
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.intelligence.covariate_shift import ShiftReference
from quantum_trader.intelligence.service import Intelligence, IntelligenceConfig
from quantum_trader.intelligence.shift_stats import single_threaded_blas
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.models.ensemble.ensemble import Ensemble, EnsembleConfig
from quantum_trader.models.ensemble.loading import DEFAULT_LOADERS, MemberLoader, load_members
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.ensemble.weights import EqualWeights, WeightProvider
from quantum_trader.models.forecasting.member import forecast_loader
from quantum_trader.models.forecasting.spec import ARCHITECTURES
from quantum_trader.observability.logging import get_logger
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import StorePolicySource
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.meta_controller import MetaControllerConfig, MetaStrategyController
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import RegimeRuleSelector
from quantum_trader.strategy.sizing import FixedFractionalSizer
from quantum_trader.strategy.strategies import default_strategies

log = get_logger(__name__)

Stage = Callable[[str], None]

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


def _labels(settings: Settings) -> LabelSpec:
    # FLAT covers a round trip at the taker fee: a smaller move cannot be traded at a profit.
    return LabelSpec(horizon=settings.label_horizon, dead_zone=2 * settings.taker_fee)


def _funding_rates(data: ReplayData) -> dict[str, list[FundingRate]]:
    return {
        symbol: [
            FundingRate(symbol, int(t), float(r))
            for t, r in zip(frame["funding_time"], frame["rate"], strict=True)
        ]
        for symbol, frame in data.funding.items()
    }


def _datasets(settings: Settings, data: ReplayData) -> dict[str, Dataset]:
    market = data.history.get("BTCUSDT")
    return {
        symbol: training_dataset(
            symbol,
            settings.timeframe,
            frame,
            data.funding.get(symbol),
            market,
            _labels(settings),
        )
        for symbol, frame in data.history.items()
    }


def _shift_references(
    settings: Settings, datasets: Mapping[str, Dataset]
) -> dict[str, ShiftReference]:
    """Each symbol's training reference for the covariate-shift monitor (its labelled rows)."""
    config = IntelligenceConfig.from_settings(settings)
    if not config.is_on("covariate_shift"):
        return {}
    return {
        symbol: ShiftReference.fit(data.x[~pd.isna(data.y)], data.names, config.covariate)
        for symbol, data in datasets.items()
    }


class _Composer:
    """Builds the pipeline's modules once the runner (bus, clock, portfolio) exists."""

    def __init__(
        self,
        rt: Runtime,
        registry: ModelRegistry,
        artifacts: LocalArtifactStore,
        symbols: Sequence[str],
        references: Mapping[str, ShiftReference],
        handles: Mapping[str, ModuleHandle],
    ) -> None:
        self.rt = rt
        self.registry = registry
        self.artifacts = artifacts
        self.symbols = list(symbols)
        self.references = references  # each symbol's training features, summarised
        self.handles = handles
        self.intelligence: Intelligence | None = None
        self.controller: MetaStrategyController | None = None
        self.risk_journal: RunScopedRiskJournal | None = None
        self.risk: RiskEngine | None = None

    def __call__(self, context: TradingContext) -> PipelineParts:
        rt, settings = self.rt, self.rt.settings
        view = PortfolioRiskView(context)
        # State is scoped to this run: a replay restoring what an earlier replay of the same
        # candles learned would be look-ahead. Paper and live runs restore across restarts.
        config = dataclasses.replace(
            IntelligenceConfig.from_settings(settings), state_prefix=f"intelligence/{rt.run_id}"
        )
        intelligence = Intelligence(
            config,
            bus=rt.bus,
            registry=rt.status,
            repository=SqlIntelligenceStateRepository(rt.db),
        )
        self.intelligence = intelligence
        weights: WeightProvider = (
            IntelligenceWeights(intelligence, rt.clock.now)
            if any(
                intelligence.config.is_on(m)
                for m in ("memory_states", "reinforcement", "covariate_shift")
            )
            else EqualWeights()
        )
        ensembles = {}
        # a global forecaster serves every symbol: load its session once, not once per symbol
        counted = self.handles.get("model_registry")
        shared: dict[str, MemberLoader] = {
            n: _load_once(_counting(forecast_loader(_labels(settings)), counted))
            for n in ARCHITECTURES
        }
        loaders = {n: _counting(loader, counted) for n, loader in DEFAULT_LOADERS.items()}
        loaders |= shared
        scopes: dict[str, str] = dict.fromkeys(ARCHITECTURES, FORECAST_SCOPE)
        for symbol in self.symbols:
            members = load_members(
                settings.ensemble_models,
                symbol,
                settings.label_horizon,
                self.registry,
                self.artifacts,
                self.handles,
                loaders,
                scopes,
            )
            ensembles[symbol] = Ensemble(
                EnsembleConfig.from_settings(settings),
                members,
                weights,
                handle=self.handles.get("ensemble"),
            )
            if intelligence.covariate is not None and symbol in self.references:
                # every member of this symbol was trained on this window: one shared reference
                for model in settings.ensemble_models:
                    intelligence.covariate.set_reference(model, self.references[symbol], symbol)
        regime = (
            RegimeDetector(bus=rt.bus, status=rt.status)
            if settings.regime_detection_enabled
            else None
        )
        if regime is None:
            rt.register("regime_detector", "")
        repo = SqlRiskRepository(rt.db)
        controller = None
        if settings.meta_strategy_enabled:
            controller = MetaStrategyController(
                config=MetaControllerConfig(),
                portfolio=view,
                store=rt.policies,
                journal=RunScopedModeJournal(repo),
                clock=rt.clock,
                status=rt.status,
            )
            controller.attach(rt.bus)
            controller.start(rt.scheduler, start_at=rt.clock.now())
        else:
            rt.register("meta_strategy_controller", "")
        self.controller = controller
        clock, batch = rt.clock, settings.replay_batch_votes
        # batched while the replay lasts (QT_REPLAY_BATCH_VOTES: the replay's batch work;
        # false journals each decision as live does); once the clock is the wall's, each
        # decision is written before its order (run_scope.py)
        self.risk_journal = RunScopedRiskJournal(
            repo,
            replaying=lambda: batch and not (isinstance(clock, ReplayThenWallClock) and clock.live),
        )
        risk = RiskEngine(
            config=RiskConfig(),
            portfolio=view,
            policy=StorePolicySource(rt.policies),
            kill_switch=KillSwitch(repo, rt.clock),  # global: a person's decision, never scoped
            journal=self.risk_journal,
            clock=rt.clock,
            bus=rt.bus,
            status=rt.status,
            run_id=rt.run_id,
        )
        risk.attach(rt.bus)
        self.risk = risk
        return PipelineParts(
            ensembles=ensembles,
            intelligence=intelligence,
            regime=regime,
            controller=controller,
            selector=RegimeRuleSelector(handle=self.handles.get("strategies")),
            strategies=default_strategies(),
            sizer=FixedFractionalSizer(),
            risk=risk,
            policy=StorePolicySource(rt.policies),
            risk_view=view,
            handles=self.handles,
        )


def _write_outputs(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    summary: Mapping[str, Any],
) -> dict[str, Path]:
    from quantum_trader.backtester.report import write_outputs

    outputs = write_outputs(result, frames, out_dir)
    _add_summary_to_report(outputs["report"], summary)
    return outputs


def _add_summary_to_report(report: Path, summary: Mapping[str, Any]) -> None:
    """The decision path's story (signals, regimes, strategies, risk decisions, risk mode) as a
    section of the HTML report, under the equity and candle charts."""
    keys = (
        "data", "synthetic", "replay", "live", "models_trained", "decisions", "signals",
        "strategies_chosen", "trade_intents", "risk_decisions", "orders_sent",
        "regimes_at_end", "risk_mode", "trading_state", "trades",
    )  # fmt: skip
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td><code>{html.escape(json.dumps(summary.get(k), default=str))}</code></td></tr>"
        for k in keys
    )
    section = f"<h2>Run {html.escape(str(summary.get('run_id')))}: decision path</h2><table>{rows}</table>"
    text = report.read_text(encoding="utf-8")
    report.write_text(text.replace("</body>", section + "</body>", 1), encoding="utf-8")


def write_outputs_in_worker(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    summary: Mapping[str, Any],
) -> dict[str, Path]:
    """Metrics, trades and the Plotly report with the run's decision-path section, written by a
    spawned worker process: the figure (plotly, every candle as JSON; megabytes of HTML) is
    batch work that would otherwise set the serving process's peak memory."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_write_outputs, result, dict(frames), out_dir, dict(summary)).result()


def _load_once(loader: MemberLoader) -> MemberLoader:
    """A loader that returns the same member for the same artifact folder."""
    loaded: dict[Path, Member] = {}

    def load(directory: Path, handle: ModuleHandle | None) -> Member:
        if directory not in loaded:
            loaded[directory] = loader(directory, handle)
        return loaded[directory]

    return load


def _counting(loader: MemberLoader, handle: ModuleHandle | None) -> MemberLoader:
    """A loader that counts each production artifact it really opened (evidence, not a tally)."""

    def load(directory: Path, member_handle: ModuleHandle | None) -> Member:
        member = loader(directory, member_handle)
        if handle is not None:
            handle.count("production_loads")
        return member

    return load


def _register_models(rt: Runtime) -> dict[str, ModuleHandle]:
    settings = rt.settings
    handles = {
        name: rt.register(name, f"ensemble member ({name})")
        for name in ("xgb", "lgbm", "nhits", "patchtst")
    }
    handles["model_registry"] = rt.register(
        "model_registry", "versions, stages, lineage and content-hashed artifacts"
    )
    handles["ensemble"] = rt.register(
        "ensemble",
        f"weighted soft vote of {','.join(settings.ensemble_models)}, "
        f"min consensus {settings.min_consensus}",
    )
    handles["strategies"] = rt.register(
        "strategies", "TrendFollowing / MeanReversion / Breakout / Neutral, chosen by regime"
    )
    return handles


def live_off_reason(settings: Settings, synthetic: bool) -> str | None:
    """Why the run stops at the end of the replay instead of going live (None: it goes live)."""
    if settings.offline:
        return "QT_OFFLINE=true"
    if synthetic:
        return "--synthetic: a generated market has no live candles"
    return None


def _candle_frames(bars: Sequence[Bar]) -> dict[str, pd.DataFrame]:
    """Live candles per symbol, in the store's candle layout."""
    return {
        symbol: ohlcv_from_rows(
            [(bar[1], *bar[3:]) for bar in bars if bar[0] == symbol], f"{symbol} live candles"
        )
        for symbol in sorted({bar[0] for bar in bars})
    }


def _keep_in_store(store: CandleStore, timeframe: str) -> CandleSink:
    """Live candles go into the local store, so the next run's replay ends where this one did."""

    def keep(bars: Sequence[Bar]) -> None:
        for symbol, frame in _candle_frames(bars).items():
            store.append(symbol, timeframe, frame, source=f"{EXCHANGE} live")

    return keep


def _with_live(frames: Mapping[str, pd.DataFrame], live: Sequence[Bar]) -> dict[str, pd.DataFrame]:
    """The replayed candles followed by the live ones: what the report charts."""
    out = dict(frames)
    for symbol, extra in _candle_frames(live).items():
        out[symbol] = pd.concat([frames[symbol], extra], ignore_index=True)
    return out


def run_main_job(
    settings: Settings,
    *,
    synthetic: bool = False,
    run_id: str | None = None,
    on_stage: Stage | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    record_latency: bool = False,
    connection: LiveConnection | None = None,
) -> RunResult:
    """Train what is missing, replay the last ``replay_days`` through the pipeline, go on live
    unless offline (``connection``: the exchange, wall clock and sleep; ccxt and the system's by
    default), report."""
    stage = on_stage or (lambda _text: None)
    single_threaded_blas()  # the serving process's small products (shift_stats.py says why)
    store = CandleStore(settings.effective_store_dir)
    stage("loading market data")
    data = load_replay_data(settings, store, synthetic=synthetic)
    start = data.replay_start
    off = live_off_reason(settings, synthetic)
    connection = connection or LiveConnection()
    # one clock for every module: simulated through the replay, the wall's after it (if live)
    clock = None if off else ReplayThenWallClock(start, connection.wall)
    rt = build_runtime(
        settings,
        mode="replay" if off else "replay+live",
        start_ms=start,
        run_id=run_id,
        clock=clock,
    )
    market = rt.modules["market_data"]
    for counter, n in store.counters.values.items():  # the loads and imports done above
        market.count(counter, n)
    rt.start()
    handles = _register_models(rt)
    registry = ModelRegistry(SqlRegistryRepository(rt.db), rt.clock)
    artifacts = LocalArtifactStore(settings.effective_artifacts_dir)
    log.info("run.start", data=data.origin, synthetic=data.synthetic, replay_start=fmt(start))

    stage("building training datasets")
    datasets = _datasets(settings, data)
    training = ensure_tabular_models(
        settings.ensemble_models,
        datasets,
        horizon=settings.label_horizon,
        registry=registry,
        artifacts=artifacts,
        clock=rt.clock,
        handles=handles,
        on_train=lambda what: stage(f"training {what}"),
    )
    training += ensure_forecast_models(
        settings.ensemble_models,
        data.history,
        labels=_labels(settings),
        registry=registry,
        artifacts=artifacts,
        seed=settings.seed,
        handles=handles,
        on_train=lambda what: stage(f"training {what}"),
    )
    for report in training:
        handles["model_registry"].count(
            "versions_registered" if report.trained else "production_versions_found"
        )

    # The training features have served (training above, shift references here): release
    # them before the models load, so the serving process never holds both.
    references = _shift_references(settings, datasets)
    symbols = list(datasets)
    del datasets
    gc.collect()
    composer = _Composer(rt, registry, artifacts, symbols, references, handles)
    funding = _funding_rates(data)
    pipeline = DecisionPipeline(
        PipelineConfig(settings.timeframe, labels=_labels(settings)),
        composer,
        symbols=list(data.frames),
        funding=funding,
    )
    config = SessionConfig(
        timeframe=settings.timeframe,
        initial_balance=settings.initial_balance,
        exchange=ExchangeConfig(
            fees=FeeSchedule(maker=settings.maker_fee, taker=settings.taker_fee),
            slippage_bps=settings.slippage_bps,
            seed=settings.seed,
        ),
        funding=FundingConfig(default_rate=settings.default_funding_rate),
        run_id=rt.run_id,
        # the pipeline cannot resume a replay mid-way (it is run again), so the replay commits
        # its orders, fills and ledger every checkpoint_every candles and at the end
        commit_on_change=False,
    )
    live = None
    if clock is not None:
        live = LivePhase(
            clock,
            rt.scheduler,
            list(data.frames),
            settings.timeframe,
            connection,
            poll_s=settings.live_poll_seconds,
            keep=_keep_in_store(store, settings.timeframe),
            on_stage=stage,
        )
    runner = TradingSession(
        config,
        data.frames,
        pipeline,
        funding_rates=funding,
        store=SqlExecutionStore(rt.db),
        status=rt.status,
        clock=rt.clock,
        bus=rt.bus,
        scheduler=rt.scheduler,
        market_data=market,
        then=live,
    )
    if record_latency:
        pipeline.latencies_ns = []
    rt.scheduler.every(
        "covariate_shift.check",
        SHIFT_CHECK_INTERVAL_MS,
        pipeline.check_covariate_shift,
        start_at=start + SHIFT_CHECK_INTERVAL_MS,
        catch_up=False,
    )
    stage("warming indicators on the candles before the replay")
    warm = {s: f.tail(WARM_UP_CANDLES) for s, f in data.history.items()}
    market.count("warm_up_candles", pipeline.warm_up(warm))
    # Training data and history have served (training, shift references, warm-up): the
    # serving process does not keep a year of candles and features per symbol through the replay.
    del warm
    data.history.clear()
    if on_start is not None:
        on_start(len(runner.feed))
    status, result = "FAILED", None
    try:
        replay_started = time.perf_counter()  # the batch votes are part of the replay's time
        if settings.replay_batch_votes:
            stage("computing the replay's model votes in batch")
            pipeline.prepare_replay(runner.feed.bars())
        stage("replaying")
        result = runner.run(progress=on_progress)
        replay_ended = time.perf_counter()
        if live is not None and live.replay_ended is not None:
            replay_ended = live.replay_ended  # the time spent live is not the replay's
        replay_seconds = replay_ended - replay_started
        status = "FINISHED"
    except KeyboardInterrupt:
        # Ctrl-C during the replay (the live phase ends on Ctrl-C by itself): the run is
        # recorded as interrupted, what was learned and committed stays, and the CLI says so.
        status = "INTERRUPTED"
        raise
    finally:
        if live is not None:
            live.close()
        pipeline.close()
        if composer.risk_journal is not None:
            composer.risk_journal.flush()
        if composer.intelligence is not None:
            composer.intelligence.save(rt.clock.now())
        live_report = live.report if live is not None else LiveReport("off", off or "")
        summary = _summary(rt, data, pipeline, result, composer, training, live_report)
        rt.finish(status, summary)
        log.info("run.finish", status=status, candles=runner.engine.stats.candles)
    assert result is not None  # the try block returned or raised
    stage("writing metrics, trades and the HTML report (worker process)")
    frames = _with_live(data.frames, live.candles if live is not None else [])
    outputs = write_outputs_in_worker(result, frames, settings.home / "runs" / rt.run_id, summary)
    summary["report"] = str(outputs["report"])
    outputs["summary"] = outputs["report"].with_name("summary.json")
    summary["outputs"] = {k: str(v) for k, v in outputs.items()}
    outputs["summary"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return RunResult(
        rt.run_id,
        data.origin,
        data.synthetic,
        summary,
        rt,
        start,
        metrics=result.metrics,
        outputs=outputs,
        training=tuple(training),
        latencies_ns=tuple(pipeline.latencies_ns or ()),
        replay_seconds=replay_seconds,
    )


def _summary(
    rt: Runtime,
    data: ReplayData,
    pipeline: DecisionPipeline,
    result: SessionResult | None,
    composer: _Composer,
    training: list[TrainingReport],
    live: LiveReport,
) -> dict[str, Any]:
    stats = pipeline.stats
    # the last replayed close (the clock's now only until a live phase moves it to wall time)
    replay_end = max(int(f["open_time"].iloc[-1]) for f in data.frames.values())
    replay_end += timeframe_ms(rt.settings.timeframe)
    summary: dict[str, Any] = {
        "run_id": rt.run_id,
        "data": data.origin,
        "synthetic": data.synthetic,
        "symbols": sorted(data.frames),
        "timeframe": rt.settings.timeframe,
        "replay": f"{fmt(data.replay_start)} → {fmt(replay_end)}",
        "replay_days": round((replay_end - data.replay_start) / MS_PER_DAY, 1),
        "live": live.summary(),
        "models_trained": [
            f"{r.key} v{r.version} ({r.seconds:.1f}s)" for r in training if r.trained
        ],
        "decisions": stats.decisions,
        "signals": dict(stats.signals),
        "strategies_chosen": dict(stats.strategies),
        "trade_intents": stats.intents,
        "risk_decisions": dict(stats.risk),
        "orders_sent": stats.orders,
        "regimes_at_end": dict(stats.last_regimes),
        "risk_mode": composer.controller.mode.value if composer.controller else "off",
        "trading_state": composer.risk.state.value if composer.risk else "?",
    }
    if result is not None:
        summary["metrics"] = result.metrics.to_dict()
        summary["trades"] = len(result.trades)
    return summary
