"""``evaluate --system``'s engine: each variant of each fold replayed by the main job.

A fold's decision-path variants run :func:`~quantum_trader.app.main_job.run_main_job` on the
fold's window, offline, in the fold's own folder (database, registry, artifacts) under
``$QT_HOME/evaluations/<id>/``; the first of them trains the fold's models on the fold's
training window, the others find them there. The candle store is the home's. Buy and hold is
replayed by the same trading session (exchange, fees, funding) with its own trader.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.data_sources import load_replay_data
from quantum_trader.app.datasets import funding_rates
from quantum_trader.app.main_job import run_main_job, session_config
from quantum_trader.backtester.strategies.buy_and_hold import BuyAndHold
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.session import SessionResult, TradingSession
from quantum_trader.evaluation.folds import Fold, Variant
from quantum_trader.evaluation.system import Stopwatch, VariantRun
from quantum_trader.learning.daemon import ACTOR as LEARNING_ACTOR

#: the settings a variant's replay depends on, besides its overrides (the fold's own window,
#: training days and folders are the fold's, the same for every variant)
REPLAY_SETTINGS = (
    "symbols",
    "timeframe",
    "ensemble_models",
    "min_consensus",
    "label_horizon",
    "features",
    "label",
    "barrier_upper",
    "barrier_lower",
    "entry_rule",
    "bet_sizing",
    "meta_filter",
    "seed",
    "selector",
    "sizer",
    "entry_cost_gate",
    "entry_margin_bps",
    "initial_balance",
    "maker_fee",
    "taker_fee",
    "slippage_bps",
    "default_funding_rate",
)


#: the PPO variant's daemon interval in a fold: a year (the setting's bound), longer than a
#: fold (90 days by default), so the policy trained before the fold's replay serves it frozen
FROZEN_MINUTES = 366 * 24 * 60  # the setting's bound


class EngineFoldRunner:
    """Replays variants on folds through the engine (see the module docstring)."""

    def __init__(
        self,
        overrides: Mapping[str, Any],
        folder: Path,
        *,
        embargo_candles: int = 0,
        on_stage: Callable[[str], None] | None = None,
    ) -> None:
        self.overrides = dict(overrides)
        self.folder = folder
        self.embargo_candles = embargo_candles
        self.on_stage = on_stage
        self.base = load_settings(**self.overrides, offline=True)

    def config_of(self, variant: Variant) -> Mapping[str, Any]:
        settings = self.base.model_copy(update=dict(variant.overrides))
        config = {name: getattr(settings, name) for name in REPLAY_SETTINGS}
        return {"trader": variant.trader, **config}

    def fold_settings(self, fold: Fold, variant: Variant) -> Settings:
        home = self.folder / f"fold-{fold.index + 1}"
        home.mkdir(parents=True, exist_ok=True)
        # the Q-learner's shadow pair is no variant: off in the folds (each would add two
        # pipelines to every variant's replay and train the fold home's table in variant order);
        # the PPO agents run for the PPO selector's variant only, its policy trained on the
        # fold's training window before the replay and frozen over it (no daemon run lands
        # within a fold: FROZEN_MINUTES)
        chosen = {**self.overrides, **variant.overrides}
        ppo = chosen.get("selector", self.base.selector) == "ppo"
        agents: dict[str, Any] = {"rl_agents": ppo}
        if ppo:
            agents["rl_training_interval_minutes"] = FROZEN_MINUTES
        return load_settings(
            **{"qlearning": False, **agents, **chosen},
            offline=True,
            store_dir=self.base.effective_store_dir,
            database_url=f"sqlite:///{home / 'quantum_trader.sqlite'}",
            artifacts_dir=home / "artifacts",
            home=home,
            train_days=max(fold.train_days, 30),
        )

    def run(self, fold: Fold, variant: Variant) -> VariantRun:
        watch = Stopwatch()
        settings = self.fold_settings(fold, variant)
        run_id = f"eval-f{fold.index + 1}-{variant.name}"
        if variant.trader == "buy_and_hold":
            session = self._buy_and_hold(settings, fold, run_id)
            gc.collect()
            return variant_run(session, {}, watch.seconds)
        return replay_window(
            settings,
            run_id,
            (fold.start, fold.end),
            embargo_candles=self.embargo_candles,
            on_stage=self.on_stage,
        )

    def _buy_and_hold(self, settings: Settings, fold: Fold, run_id: str) -> SessionResult:
        store = CandleStore(settings.effective_store_dir)
        data = load_replay_data(settings, store, synthetic=False, window=(fold.start, fold.end))
        trader = BuyAndHold(list(data.frames))
        session = TradingSession(
            session_config(settings, run_id),
            data.frames,
            trader,
            funding_rates=funding_rates(data),
        )
        return session.run()

    @property
    def tf_ms(self) -> int:
        return timeframe_ms(self.base.timeframe)


def replay_window(
    settings: Settings,
    run_id: str,
    window: tuple[int, int],
    *,
    embargo_candles: int = 0,
    on_stage: Callable[[str], None] | None = None,
) -> VariantRun:
    """The main job's replay of the candles opening in ``window`` = [start, end), offline, in
    the home ``settings`` name (its database, registry and artifacts), with no report and no
    trial recorded; as the evaluation's record of it. The home's registry decides what serves:
    a line without a PRODUCTION version is trained first, on the ``train_days`` before the
    window (minus ``embargo_candles``). A fold of ``evaluate --system`` and a replay of the
    validation gate (``app/gate_replays.py``) are this call."""
    watch = Stopwatch()
    result = run_main_job(
        settings,
        run_id=run_id,
        window=window,
        embargo_candles=embargo_candles,
        write_report=False,
        on_stage=on_stage,
        # the run's validation gate replays its candidates' windows the same way (continuous
        # learning is off inside those replays: they never validate in turn)
        gate_replay=replay_window,
    )
    assert result.session is not None  # a finished replay has its session's result
    windows, retrained = training_windows(settings)
    timeline = result.summary.get("risk_timeline", [])
    session = result.session
    del result
    gc.collect()  # a replay's models and frames go before the next replay loads its own
    return variant_run(session, windows, watch.seconds, timeline, retrained)


def training_windows(
    settings: Settings,
) -> tuple[dict[str, tuple[int, int] | None], dict[str, int]]:
    """Each registered model version's training window (``name/scope@v`` → first and last open
    time fitted on), from the fold's registry; and when continuous learning registered the
    versions it trained during the replay."""
    db = open_database(settings.effective_database_url)
    try:
        repository = SqlRegistryRepository(db)
        versions = repository.versions()
        retrained = {
            f"{c.key}@{c.version}": c.at
            for _, c in repository.changes_after(0)
            if c.from_stage is None and c.actor == LEARNING_ACTOR
        }
    finally:
        db.dispose()
    return {f"{v.key}@{v.version}": v.lineage.window for v in versions}, retrained


def variant_run(
    session: SessionResult,
    windows: Mapping[str, tuple[int, int] | None],
    seconds: float,
    risk_timeline: Sequence[Sequence[Any]] = (),
    retrained: Mapping[str, int] | None = None,
) -> VariantRun:
    """A session's result as the evaluation's record of it."""
    metrics = session.metrics
    return VariantRun(
        times=tuple(session.equity_times),
        equity=tuple(session.equity_values),
        trade_net=tuple(t.net_pnl for t in session.trades),
        trade_gross=tuple(t.pnl for t in session.trades),
        trade_strategies=tuple(t.strategy for t in session.trades),
        fees=metrics.fees_paid,
        funding=metrics.funding_paid,
        traded_notional=sum(abs(f.quantity) * f.price for f in session.fills),
        exposure=metrics.exposure,
        training_windows=dict(windows),
        retrained_at=dict(retrained or {}),
        seconds=seconds,
        trades=tuple(session.trades),
        risk_timeline=tuple((int(t), str(m), str(s)) for t, m, s in risk_timeline),
    )
