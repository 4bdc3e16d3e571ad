"""The composition root of the decision path: which selector, sizer and weights serve it, its
modules built from settings, and their lifecycle.

``run``, ``backtest --strategy ai`` and (later) the services and the API build the AI trader
here and nowhere else: :func:`register_decision_modules` once per run, then
:class:`PipelineComposer` as the pipeline's parts factory (the session calls it when it binds
the pipeline, once its portfolio exists). Each component it builds is started through the run's
:class:`~quantum_trader.lifecycle.Lifecycle` in the order built, and stopped in reverse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.configs import (
    ensemble_config,
    entry_cost_config,
    expectancy_config,
    intelligence_config,
    meta_filter,
    risk_config,
    strategy_config,
)
from quantum_trader.app.configs import labels as labels  # its home; callers import it here too
from quantum_trader.app.continuous_learning import ContinuousLearning
from quantum_trader.app.gate_replays import WindowReplay
from quantum_trader.app.rl_serving import MODULE as RL_SELECTOR_MODULE
from quantum_trader.app.rl_serving import SIZING_MODULE as RL_SIZING_MODULE
from quantum_trader.app.rl_serving import production_selector, production_sizer
from quantum_trader.app.run_scope import RunScopedModeJournal, RunScopedRiskJournal
from quantum_trader.app.runtime import Runtime, while_replaying_every_engine
from quantum_trader.app.serving_health import Unserved, logging_swap, report_unserved
from quantum_trader.app.training import FORECAST_SCOPE
from quantum_trader.clock.clock import ReplayThenWallClock
from quantum_trader.config.settings import Settings
from quantum_trader.decision.parts import PipelineParts
from quantum_trader.decision.views import IntelligenceWeights, PortfolioRiskView
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE
from quantum_trader.engine.trader import TradingContext
from quantum_trader.evaluation.ledger import TrialLedger
from quantum_trader.intelligence.covariate_shift import ShiftReference
from quantum_trader.intelligence.service import Intelligence
from quantum_trader.learning.daemon import ReadDataset
from quantum_trader.learning.forecaster_lines import ReadCloses
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.learning.serving import (
    DEFAULT_LOADERS,
    ensemble_of,
    load_members,
    loaders_for,
)
from quantum_trader.learning.trainers import FAMILIES, FamilyKind, names_of
from quantum_trader.learning.watcher import ProductionWatcher, registry_cursor
from quantum_trader.lifecycle import ComponentContext, Hooks, Lifecycle
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.loading import MemberLoader
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.ensemble.weights import EqualWeights, WeightProvider
from quantum_trader.models.forecasting.member import forecast_loader
from quantum_trader.risk.engine import RiskEngine, engine_actor
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchStore
from quantum_trader.risk.policy_source import StorePolicySource
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.bet_sizing import BetSizer
from quantum_trader.strategy.cost_gate import EntryCostGate
from quantum_trader.strategy.expectancy import ExpectancyTracker
from quantum_trader.strategy.meta_controller import MetaControllerConfig, MetaStrategyController
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import (
    FIXED_STRATEGIES,
    FixedSelector,
    RandomSelector,
    RegimeRuleSelector,
    StrategySelector,
)
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    PositionSizer,
    VolatilityTargetSizer,
)
from quantum_trader.strategy.strategies import default_strategies


def _fixed(strategy: str) -> Callable[[Settings, ModuleHandle | None], StrategySelector]:
    return lambda _settings, handle: FixedSelector(strategy, handle)


#: the strategy selector for each ``QT_SELECTOR`` (the learning agents add theirs here)
SELECTORS: dict[str, Callable[[Settings, ModuleHandle | None], StrategySelector]] = {
    "regime_rules": lambda _settings, handle: RegimeRuleSelector(handle=handle),
    "random": lambda settings, handle: RandomSelector(settings.seed, handle),
    # the PPO selector's policy serves in front of it (app/rl_agents.py); the rules behind
    "ppo": lambda _settings, handle: RegimeRuleSelector(handle=handle),
    **{f"fixed:{name}": _fixed(name) for name in FIXED_STRATEGIES},
}
#: the position sizer for each ``QT_SIZER``
SIZERS: dict[str, Callable[[], PositionSizer]] = {
    "fixed_fractional": FixedFractionalSizer,
    "volatility_target": VolatilityTargetSizer,
}


def base_sizer(settings: Settings) -> PositionSizer:
    """``QT_SIZER``'s sizer, scaled by the win probability when ``QT_BET_SIZING`` is on."""
    sizer = SIZERS[settings.sizer]()
    return BetSizer(sizer) if settings.bet_sizing else sizer


#: the intelligence modules that weigh the ensemble's members (else: equal weights)
WEIGHING_MODULES = ("memory_states", "reinforcement", "covariate_shift")
#: how often (engine time) the run looks for stage changes written by another process
MODEL_REFRESH_INTERVAL_MS = MS_PER_MINUTE


def register_decision_modules(rt: Runtime) -> dict[str, ModuleHandle]:
    """The status handles of the members, the registry, the ensemble and the strategies."""
    settings = rt.settings
    handles = {name: rt.register(name, f"ensemble member ({name})") for name in FAMILIES}
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
    handles[RL_SIZING_MODULE] = rt.register(
        RL_SIZING_MODULE,
        f"RL position sizing: a fraction f of {settings.sizer}'s size from the PRODUCTION "
        "policy, f = 0 in REDUCING and HALTED",
    )
    handles[RL_SELECTOR_MODULE] = rt.register(
        RL_SELECTOR_MODULE,
        f"PPO strategy selector: serves the PRODUCTION policy, {settings.selector} decides "
        "while there is none; a shadow account trades the SHADOW policy",
    )
    return handles


def entry_gate(settings: Settings) -> EntryCostGate | None:
    """The cost gate of entries (``QT_ENTRY_COST_GATE``), pricing the label horizon's trade at
    the simulated exchange's taker fee and slippage."""
    config = entry_cost_config(settings)
    return None if config is None else EntryCostGate(config, labels(settings).dead_zone)


class PipelineComposer:
    """Builds the pipeline's modules once the session (bus, clock, portfolio) exists.

    State is scoped to the run: a replay restoring what an earlier replay of the same candles
    learned would be look-ahead (``app/run_scope.py``); the kill switch is never scoped. It
    is read from ``kill_switch`` when given (a run with a database of its own, whose operator's
    switch is the home's: ``paper``), else from the run's database.
    """

    def __init__(
        self,
        rt: Runtime,
        lifecycle: Lifecycle,
        registry: ModelRegistry,
        artifacts: LocalArtifactStore,
        symbols: Sequence[str],
        references: Mapping[str, ShiftReference],
        handles: Mapping[str, ModuleHandle],
        *,
        kill_switch: KillSwitchStore | None = None,
        read_training: ReadDataset | None = None,
        read_closes: ReadCloses | None = None,
        gate_replay: WindowReplay | None = None,
        ledger: TrialLedger | None = None,
    ) -> None:
        self.rt = rt
        self.read_training = read_training  # what continuous learning trains on (None: off)
        self.read_closes = read_closes  # and its forecaster lines (None: not retrained)
        self.gate_replay = gate_replay  # how the validation gate replays (None: no trading check)
        self.ledger = ledger  # where the gate's validations are recorded (None: nowhere)
        self.learning: ContinuousLearning | None = None
        self.kill_switch = kill_switch
        self.lifecycle = lifecycle
        self.registry = registry
        self.artifacts = artifacts
        self.symbols = list(symbols)
        self.references = references  # each symbol's training features, summarised
        self.handles = handles
        self.intelligence: Intelligence | None = None
        self.controller: MetaStrategyController | None = None
        self.risk: RiskEngine | None = None
        self._risk_journal: RunScopedRiskJournal | None = None
        #: configured members that do not serve a symbol (logged and shown at load)
        self.unserved: list[Unserved] = []

    def flush_journals(self) -> None:
        """Write the risk decisions still buffered. The session calls it before each
        checkpoint commit, so every committed order's approval is in the database before the
        order is: a crash between two checkpoints loses both or neither."""
        if self._risk_journal is not None:
            self._risk_journal.flush()

    def __call__(self, context: TradingContext) -> PipelineParts:
        settings = self.rt.settings
        view = PortfolioRiskView(context)
        intelligence = self._intelligence()
        ensembles = self._ensembles(intelligence)
        regime = self._regime()
        self.controller = self._controller(view)
        self.risk = self._risk(view)
        return PipelineParts(
            ensembles=ensembles,
            intelligence=intelligence,
            regime=regime,
            controller=self.controller,
            selector=production_selector(
                settings,
                SELECTORS[settings.selector](settings, self.handles.get("strategies")),
                self.handles.get(RL_SELECTOR_MODULE),
            ),
            strategies=default_strategies(strategy_config(settings)),
            sizer=production_sizer(
                settings,
                base_sizer(settings),
                self.handles.get(RL_SIZING_MODULE),
                self.registry,
                self.artifacts,
            ),
            risk=self.risk,
            policy=StorePolicySource(self.rt.policies),
            risk_view=view,
            handles=self.handles,
            entry_gate=entry_gate(settings),
            expectancy=self._expectancy(),
            meta_filter=meta_filter(settings),
            label_listeners=self.learning.label_listeners() if self.learning else (),
            after_decision=self.learning.after_decision() if self.learning else (),
        )

    def _intelligence(self) -> Intelligence:
        rt = self.rt
        config = intelligence_config(rt.settings, state_prefix=f"intelligence/{rt.run_id}")
        intelligence = Intelligence(
            config,
            bus=rt.bus,
            registry=rt.status,
            repository=SqlIntelligenceStateRepository(rt.db),
        )
        self.intelligence = intelligence
        # what it learned is saved when the run stops
        self.lifecycle.start(Hooks("intelligence", stop=lambda: intelligence.save(rt.clock.now())))
        return intelligence

    def _ensembles(self, intelligence: Intelligence) -> dict[str, Ensemble]:
        settings = self.rt.settings
        weights: WeightProvider = (
            IntelligenceWeights(intelligence, self.rt.clock.now)
            if any(intelligence.config.is_on(m) for m in WEIGHING_MODULES)
            else EqualWeights()
        )
        fresh, loaders = self._loaders()
        forecasters = names_of(FamilyKind.FORECASTER)
        scopes: dict[str, str] = dict.fromkeys(forecasters, FORECAST_SCOPE)
        self.learning = ContinuousLearning(
            self.rt,
            self.lifecycle,
            self.registry,
            self.artifacts,
            # forecasters learn the sign label whatever QT_LABEL is; candidates' loads are not
            # counted as production loads
            loaders_for(labels(settings).sign_spec()),
            scopes,
            self.read_training,
            self.read_closes,
            self.gate_replay,
            self.ledger,
        )
        cursor = registry_cursor(self.registry)  # before loading: no promotion slips between
        ensembles = {}
        loaded = {}
        for symbol in self.symbols:
            members = loaded[symbol] = load_members(
                settings.ensemble_models,
                symbol,
                settings.label_horizon,
                self.registry,
                self.artifacts,
                self.handles,
                loaders,
                scopes,
            )
            if self.learning is not None:
                members = self.learning.watch(symbol, members)
            ensembles[symbol] = ensemble_of(
                ensemble_config(settings),
                members,
                weights,
                handle=self.handles.get("ensemble"),
            )
            if self.learning is not None:
                self.learning.attach(symbol, ensembles[symbol])
            if intelligence.covariate is not None and symbol in self.references:
                # every member of this symbol was trained on this window: one shared reference
                for model in settings.ensemble_models:
                    intelligence.covariate.set_reference(model, self.references[symbol], symbol)
        self.unserved = report_unserved(loaded, self.handles)
        watcher = ProductionWatcher(
            self.registry,
            self.artifacts,
            ensembles,
            horizon=settings.label_horizon,
            loaders=fresh,  # not the load-once ones: a new version must really be opened
            scopes=scopes,
            cursor=cursor,
            bus=self.rt.bus,
            handle=self.handles.get("model_registry"),
            handles=self.handles,
            # a promotion it cannot serve is logged, as one at load is; with continuous
            # learning the new version takes its watched slot
            swap=logging_swap(self.learning.swap if self.learning is not None else None),
        )
        self.lifecycle.start(Hooks("model_registry.watcher", start=self._watch(watcher)))
        if self.learning is not None:
            self.learning.start(watcher, self.symbols)
        return ensembles

    def _watch(self, watcher: ProductionWatcher) -> Callable[[ComponentContext], object]:
        """A promotion or rollback written by another process (``models promote``) reaches
        this run: a job on the engine clock swaps the new PRODUCTION version in between two
        decisions. In a replay, where simulated minutes pass in microseconds, it looks once
        per engine hour: on engine time, not wall time, because it also publishes the stage
        changes continuous learning writes during the run, and a wall-time throttle put them
        on different candles of the event log in each replay of the same seed (issue 22)."""
        refresh = while_replaying_every_engine(self.rt.clock, watcher.refresh, MS_PER_HOUR)

        def start(ctx: ComponentContext) -> object:
            return ctx.scheduler.every(
                "model.refresh",
                MODEL_REFRESH_INTERVAL_MS,
                refresh,
                start_at=ctx.clock.now(),
                catch_up=False,
            )

        return start

    def _loaders(self) -> tuple[dict[str, MemberLoader], dict[str, MemberLoader]]:
        """Each member's loader, counting the artifacts it opens: ``fresh`` opens every artifact
        anew (a swap needs the new version's), the serving ones open a global forecaster's
        session once for all symbols, not once per symbol."""
        counted = self.handles.get("model_registry")
        forecasters = names_of(FamilyKind.FORECASTER)
        labels_ = labels(self.rt.settings).sign_spec()  # what the forecasters learn
        fresh = {n: _counting(forecast_loader(labels_), counted) for n in forecasters}
        fresh |= {n: _counting(loader, counted) for n, loader in DEFAULT_LOADERS.items()}
        return fresh, fresh | {n: _load_once(fresh[n]) for n in forecasters}

    def _regime(self) -> RegimeDetector | None:
        rt = self.rt
        if not rt.settings.regime_detection_enabled:
            rt.register("regime_detector", "")
            return None
        return RegimeDetector(bus=rt.bus, status=rt.status)

    def _controller(self, view: PortfolioRiskView) -> MetaStrategyController | None:
        rt = self.rt
        if not rt.settings.meta_strategy_enabled:
            rt.register("meta_strategy_controller", "")
            return None
        controller = MetaStrategyController(
            config=MetaControllerConfig(),
            portfolio=view,
            store=rt.policies,
            journal=RunScopedModeJournal(SqlRiskRepository(rt.db, actor=engine_actor(rt.run_id))),
            clock=rt.clock,
            status=rt.status,
        )

        def start(_ctx: object) -> None:
            controller.attach(rt.bus)
            controller.start(rt.scheduler, start_at=rt.clock.now())

        self.lifecycle.start(Hooks("meta_strategy_controller", start=start))
        return controller

    def _expectancy(self) -> ExpectancyTracker | None:
        """The per-strategy expectancy tracker (QT_EXPECTANCY_BENCHING): fed by closed trades,
        its benches journalled and shown in the ``strategies`` module's status. Its state is
        saved when the run stops, under the run's id; no run restores it (a replay is a
        simulation of its own, and the pipeline cannot resume a run mid-way)."""
        rt = self.rt
        if not rt.settings.expectancy_benching:
            return None
        tracker = ExpectancyTracker(
            expectancy_config(rt.settings),
            journal=SqlRiskRepository(rt.db),
            handle=self.handles.get("strategies"),
        )
        repo = SqlIntelligenceStateRepository(rt.db)

        def save() -> None:
            state = json.dumps(tracker.state(), sort_keys=True)
            repo.save(f"expectancy/{rt.run_id}", state, rt.clock.now())

        self.lifecycle.start(
            Hooks("strategies.expectancy", start=lambda _ctx: tracker.attach(rt.bus), stop=save)
        )
        return tracker

    def _risk(self, view: PortfolioRiskView) -> RiskEngine:
        rt, clock, batch = self.rt, self.rt.clock, self.rt.settings.replay_batch_votes
        repo = SqlRiskRepository(rt.db)
        # batched while the replay lasts (QT_REPLAY_BATCH_VOTES: the replay's batch work;
        # false journals each decision as live does); once the clock is the wall's, each
        # decision is written before its order (run_scope.py)
        journal = RunScopedRiskJournal(
            repo,
            replaying=lambda: batch and not (isinstance(clock, ReplayThenWallClock) and clock.live),
        )
        self._risk_journal = journal
        self.lifecycle.start(Hooks("risk_safety.journal", stop=journal.flush))
        risk = RiskEngine(
            config=risk_config(rt.settings),
            portfolio=view,
            policy=StorePolicySource(rt.policies),
            # global: a person's decision, never scoped; read before every order
            kill_switch=KillSwitch(self.kill_switch or repo, rt.clock),
            journal=journal,
            clock=rt.clock,
            bus=rt.bus,
            status=rt.status,
            run_id=rt.run_id,
        )
        self.lifecycle.start(Hooks("risk_safety", start=lambda _ctx: risk.attach(rt.bus)))
        return risk


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
