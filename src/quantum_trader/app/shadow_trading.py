"""Wires shadow trading (``decision/shadow.py``) into a run.

When a line gets a challenger (the rollout puts a SHADOW version into its slots), two shadow
accounts start: one whose pipeline serves the challenger in that line's slots, one serving the
champion there (the twin). Their pipelines are built like production's (``app/compose.py``),
each module a fresh instance on the account's private bus, serving the members production
serves now; a few modules are shared or left out, on purpose:

* the trading policy (risk mode) is production's, read-only: the meta strategy controller,
  which writes it, runs for production alone, so a shadow trades in production's risk mode;
* the kill switch is the operator's, as for every order;
* a hole in a symbol's live feed holds its entries in every account as in production's (the
  risk engine's ``follow_warm_ups``): their features span the hole alike;
* no covariate-shift check is scheduled for a shadow and nothing it learns is saved.

Both accounts warm their indicators on the ``warm_up`` candles before the start (read from
the run's candle store, closing at or before the engine time) and start flat with
production's equity. When the challenger leaves (promoted or retired) both finish; their
figures go to the log and to the ``shadow_models`` status.

:meth:`ShadowComposer.selector_pair` builds the other kind of pair, for a challenger that is a
strategy selector rather than a model version (modules 13 and 14, ``app/rl_agents.py``,
``app/qlearning_shadow.py``): both accounts serve production's members, the challenger's asks
that selector, the twin's asks production's. :meth:`ShadowComposer.sizer_pair` does the same for
a position sizer (module 15, ``app/rl_sizing.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import structlog

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.compose import SELECTORS, WEIGHING_MODULES, base_sizer, entry_gate, labels
from quantum_trader.app.configs import (
    ensemble_config,
    expectancy_config,
    feature_config,
    intelligence_config,
    meta_filter,
    risk_config,
    strategy_config,
)
from quantum_trader.app.continuous_learning import ContinuousLearning
from quantum_trader.app.runtime import Runtime
from quantum_trader.decision.inputs import PipelineConfig
from quantum_trader.decision.parts import PartsFactory, PipelineParts
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.decision.shadow import PairFigures, ShadowAccount, ShadowPair, ShadowTrading
from quantum_trader.decision.views import IntelligenceWeights, PortfolioRiskView
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.session import TradingSession, simulated_venue
from quantum_trader.engine.trader import TradingContext
from quantum_trader.intelligence.service import Intelligence
from quantum_trader.learning.challenger import WatchedMember
from quantum_trader.learning.rollout import TradingCheck
from quantum_trader.lifecycle import Hooks
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.ensemble.weights import EqualWeights, WeightProvider
from quantum_trader.performance.metrics import periods_per_year
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchStore
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.expectancy import ExpectancyTracker
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import StrategySelector
from quantum_trader.strategy.sizing import PositionSizer
from quantum_trader.strategy.strategies import default_strategies

log = structlog.get_logger("quantum_trader.shadow_trading")

#: which members a shadow's ensemble of one symbol serves, with their registry versions
Served = list[tuple[Member, int | None]]


def served(ensemble: Ensemble, line: str, *, challenger: bool) -> Served:
    """The members ``ensemble`` serves now, each watched slot's champion, except in ``line``'s
    slot when ``challenger``: its challenger there."""
    out: Served = []
    for member, ident in zip(ensemble.members, ensemble.member_ids, strict=True):
        if not isinstance(member, WatchedMember):
            out.append((member, ident.version))
        elif challenger and member.line == line and member.challenge is not None:
            out.append((member.challenge.member, member.challenge.version))
        else:
            out.append((member.champion, member.champion_version))
    return out


@dataclass(frozen=True, slots=True)
class Account:
    """One shadow account of a pair: its name, the members it serves per symbol, and its
    selector and sizer (None: ``QT_SELECTOR``'s and ``QT_SIZER``'s, fresh, as production's)."""

    name: str
    members: Mapping[str, Served]
    selector: StrategySelector | None = None
    sizer: PositionSizer | None = None


class ShadowComposer:
    """Builds the shadow accounts of a run (see the module docstring)."""

    def __init__(
        self,
        rt: Runtime,
        production: DecisionPipeline,
        session: TradingSession,
        store: CandleStore,
        funding: Mapping[str, Sequence[FundingRate]],
        kill_switch: KillSwitchStore | None,
        *,
        warm_up: int,
    ) -> None:
        self.rt = rt
        self.production = production
        self.session = session
        self.store = store
        self.funding = funding
        self.kill_switch = kill_switch or SqlRiskRepository(rt.db)
        self.warm_up = warm_up
        self.symbols = list(session.feed.symbols)
        self.tf = timeframe_ms(rt.settings.timeframe)

    def pair(self, line: str, version: int, now: int) -> ShadowPair:
        """``line``'s candidate ``version`` in the challenger account, its champion in the
        twin's."""
        parts = self.production.parts
        assert parts is not None, "the production pipeline is bound before any challenger"

        def members(challenger: bool) -> dict[str, Served]:
            return {
                s: served(parts.ensembles[s], line, challenger=challenger) for s in self.symbols
            }

        accounts = (
            Account(f"{line}@v{version}", members(True)),
            Account(f"{line}@twin", members(False)),
        )
        return self._pair(line, version, now, accounts)

    def selector_pair(
        self, selector: StrategySelector, now: int, *, replay: Callable[[], Iterable[Bar]] | None
    ) -> ShadowPair:
        """``selector`` in the challenger account, production's selector in the twin's; both
        serve the members production serves now (each watched slot's champion) and start with
        the session's initial balance, as production does (the pair starts with the replay,
        before the session deposits it). ``replay``: the candles the pair will follow, for
        its batch votes (``ShadowPair``)."""
        members = self._production_members()
        line = f"selector:{selector.name}"
        accounts = (
            Account(selector.name, members, selector=selector),
            Account(f"{selector.name}@twin", members),
        )
        equity = self.session.config.initial_balance
        return self._pair(line, None, now, accounts, equity=equity, replay=replay)

    def sizer_pair(
        self, sizer: PositionSizer, now: int, *, replay: Callable[[], Iterable[Bar]] | None
    ) -> ShadowPair:
        """``sizer`` in the challenger account, ``QT_SIZER``'s sizer in the twin's; otherwise
        as :meth:`selector_pair` (production's members and selector in both)."""
        members = self._production_members()
        line = f"sizer:{sizer.name}"
        accounts = (
            Account(sizer.name, members, sizer=sizer),
            Account(f"{sizer.name}@twin", members),
        )
        equity = self.session.config.initial_balance
        return self._pair(line, None, now, accounts, equity=equity, replay=replay)

    def _production_members(self) -> dict[str, Served]:
        """The members production serves now (each watched slot's champion), per symbol."""
        parts = self.production.parts
        assert parts is not None, "the production pipeline is bound before the pair"
        return {s: served(parts.ensembles[s], "", challenger=False) for s in self.symbols}

    def _pair(
        self,
        line: str,
        version: int | None,
        now: int,
        accounts: Sequence[Account],
        *,
        equity: float | None = None,
        replay: Callable[[], Iterable[Bar]] | None = None,
    ) -> ShadowPair:
        """Two accounts, started flat at ``now``
        with ``equity`` (None: production's now), their indicators warmed on the candles before
        it."""
        history = self._history(now)
        equity = self.session.portfolio.equity if equity is None else equity
        built = []
        for spec in accounts:
            name = spec.name
            pipeline = DecisionPipeline(
                PipelineConfig(
                    self.rt.settings.timeframe,
                    labels=labels(self.rt.settings),
                    features=feature_config(self.rt.settings),
                ),
                self._parts(spec),
                symbols=self.symbols,
                funding=self.funding,
            )
            account = ShadowAccount(
                f"shadow:{name}",
                pipeline,
                simulated_venue(self.session.specs, self.funding, self.session.config),
                self.session.specs,
                self.rt.clock,
                equity=equity,
                started_at=now,
            )
            pipeline.warm_up(history)
            built.append(account)
        return ShadowPair(
            line,
            version,
            built[0],
            built[1],
            started_at=now,
            periods_per_year=periods_per_year(self.rt.settings.timeframe),
            seed=self.rt.settings.seed,
            warmed_until={s: int(f["open_time"].iloc[-1]) for s, f in history.items() if len(f)},
            replay=replay,
        )

    def _history(self, now: int) -> dict[str, pd.DataFrame]:
        """Each symbol's last ``warm_up`` candles closing at or before ``now``."""
        first = now - (self.warm_up + 1) * self.tf
        return {
            s: self.store.load(s, self.rt.settings.timeframe, start=first, end=now - self.tf + 1)
            for s in self.symbols
        }

    def _parts(self, account: Account) -> PartsFactory:
        settings, clock = self.rt.settings, self.rt.clock
        name, members = account.name, account.members
        production = self.production.parts
        assert production is not None

        def build(context: TradingContext) -> PipelineParts:
            bus = context.orders.bus  # the account's own
            view = PortfolioRiskView(context)
            intelligence = Intelligence(
                intelligence_config(settings, state_prefix=f"shadow/{name}"), bus=bus
            )
            weights: WeightProvider = (
                IntelligenceWeights(intelligence, clock.now)
                if any(intelligence.config.is_on(m) for m in WEIGHING_MODULES)
                else EqualWeights()
            )
            ensembles = {
                s: Ensemble(
                    ensemble_config(settings),
                    [m for m, _ in served_],
                    weights,
                    versions={m.name: v for m, v in served_},
                )
                for s, served_ in members.items()
            }
            risk = RiskEngine(
                config=risk_config(settings),
                portfolio=view,
                policy=production.policy,  # production's risk mode, read-only
                kill_switch=KillSwitch(self.kill_switch, clock),
                journal=MemoryRiskJournal(),
                clock=clock,
                bus=bus,
                run_id=name,
            )
            risk.attach(bus)
            production.risk.follow_warm_ups(risk)  # a live feed's hole holds its entries too
            expectancy = None
            if settings.expectancy_benching:
                expectancy = ExpectancyTracker(expectancy_config(settings))
                expectancy.attach(bus)
            return PipelineParts(
                ensembles=ensembles,
                intelligence=intelligence,
                regime=RegimeDetector(bus=bus) if settings.regime_detection_enabled else None,
                controller=None,
                selector=account.selector or SELECTORS[settings.selector](settings, None),
                strategies=default_strategies(strategy_config(settings)),
                sizer=account.sizer or base_sizer(settings),
                risk=risk,
                policy=production.policy,
                risk_view=view,
                entry_gate=entry_gate(settings),
                expectancy=expectancy,
                meta_filter=meta_filter(settings),  # each account learns from its own entries
            )

        return build


def shadow_trading(composer: ShadowComposer, handle: ModuleHandle | None) -> ShadowTrading:
    """The run's shadow trading, its finished pairs logged and counted on ``handle``."""

    def build(line: str, version: int, now: int) -> ShadowPair | None:
        try:
            pair = composer.pair(line, version, now)
        except (OSError, ValueError) as exc:  # a store or a member that cannot serve
            log.warning("shadow.trading_not_started", line=line, version=version, error=str(exc))
            return None
        if handle is not None:
            handle.count("shadow_accounts_started", 2)
        log.info("shadow.trading_started", line=line, version=version)
        return pair

    def finished(figures: PairFigures) -> None:
        log.info("shadow.trading_finished", summary=figures.summary())
        if handle is not None:
            handle.count("shadow_trades", figures.challenger.trades)

    return ShadowTrading(build, composer.rt.clock.now, on_finished=finished)


def follow_pair(
    composer: ShadowComposer,
    pair: ShadowPair,
    handle: ModuleHandle,
    finished: Callable[[PairFigures], None],
) -> ShadowTrading:
    """Feed one challenger's ``pair`` after production on every candle of ``composer``'s
    session until it finishes; its candles and both accounts' trades are gauged on ``handle``
    before ``finished`` gets the figures (modules 13, 14 and 15's pairs)."""

    def done(figures: PairFigures) -> None:
        handle.gauge("shadow_candles", figures.candles)
        handle.gauge("shadow_trades", figures.challenger.trades)
        handle.gauge("twin_trades", figures.twin.trades)
        finished(figures)

    trading = ShadowTrading(None, composer.rt.clock.now, done)
    trading.add(pair)
    composer.session.follow(trading.on_bar, trading)
    handle.count("shadow_accounts_started", 2)
    return trading


def forward_evidence(pair: ShadowPair) -> Callable[[], tuple[float | None, int]]:
    """A policy line's forward evidence from its shadow ``pair`` so far: the lower end of the
    paired Sharpe difference's interval and the challenger's closed trades (``rl/daemon.py``)."""

    def evidence() -> tuple[float | None, int]:
        figures = pair.figures()
        return figures.low, figures.challenger.trades

    return evidence


#: finished pairs shown in the status line (all of them are in the log)
SHOWN_FINISHED = 3


def attach_shadow_trading(
    learning: ContinuousLearning, composer: ShadowComposer, session: TradingSession
) -> ShadowTrading | None:
    """Start and finish shadow accounts with the challengers of ``learning``'s slots, fed
    after production on every candle of ``session``; None when no slot is watched."""
    book, controller = learning.book, learning.controller
    if book is None or controller is None:
        return None
    trading = shadow_trading(composer, learning.shadow)
    session.follow(trading.on_bar, trading)
    book.listeners.append(trading.on_challenger)

    def evidence() -> list[str]:
        return [f.summary() for f in trading.figures(finished=SHOWN_FINISHED)]

    controller.evidence.append(evidence)

    def check(line: str) -> TradingCheck | None:
        pair = trading.active.get(line)
        if pair is None:
            return None
        figures = pair.figures()
        worse = figures.high is not None and figures.high < 0.0
        return TradingCheck(figures.challenger.trades, worse, figures.summary())

    controller.trading = check
    learning.lifecycle.start(Hooks("shadow_models.trading", stop=trading.finish_all))
    return trading
