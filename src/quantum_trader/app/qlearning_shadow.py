"""Module 14, ``rl_v2_qlearning``, in a run: the Q-learning selector as a challenger in the shadow.

The issue makes the Q-learner the challenger whose choices are simulated in the shadow. With
``QT_QLEARNING`` (on by default) a :class:`~quantum_trader.decision.shadow.ShadowPair` follows
the whole replay (and the live phase after it), built by the shadow accounts' composer
(``app/shadow_trading.py``) like the model lines' pairs:

* the **challenger** account's pipeline asks the Q-learning selector for its strategies;
* the **twin**'s asks production's selector (``QT_SELECTOR``, the rule selector by default).

Both serve the members production serves at the start, warm their indicators on the candles
before the replay, start flat with production's equity and prepare their votes in batch, so
the selector is their one difference, and the pair's figures (closed trades, net PnL, fees,
funding, the paired Sharpe difference with its block-bootstrap interval) compare the Q-learner
with the rule selector on the same candles. Production's decisions, orders and trades are the
same with the pair or without it (``tests/app/test_qlearning_shadow.py``).

The Q-learner learns from its own account's closed trades (it follows that account's private
bus, never production's). Its table lives in the run's database under a scope per market
(:func:`~quantum_trader.app.configs.qlearning_scope`): restored at start, saved every 100
updates and at the stop, so each run continues the learning of the runs before it. A run that
replays candles an earlier run already learnt from judges the table in-sample there: the
status reason says when the restored table was saved after the replay's start. A stored table
that cannot be read back (another state space, a corrupt cell) is refused with a warning: the
module is DEGRADED, chooses on a fresh table, learns and saves nothing, and leaves the stored
one as it is.

**Off-policy evidence** (issue 18, deliver 6). The learner explores, so its account is the
run's log for judging other selectors off-policy: an
:class:`~quantum_trader.evaluation.exploring_log.ExploringLog` records each of its choices with
its probability and what the targets (``app/challengers.py``: the configured rule selector, and
the PPO line's shadow policy when the agents run) would have chosen there. At the pair's finish
the estimates (IPS, SNIPS, doubly robust; the learner's own mean beside them) go into the
module's status reason and the run summary's ``qlearning_shadow.offpolicy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.agents.qlearning import MODULE, QLearningSelector, qlearning_component
from quantum_trader.agents.qtable import CorruptQTableError, QTableRepository, QTableSnapshot
from quantum_trader.app.configs import qlearning_config, qlearning_scope
from quantum_trader.app.run_report import qlearning_summary
from quantum_trader.app.runtime import Runtime
from quantum_trader.app.shadow_trading import ShadowComposer, follow_pair
from quantum_trader.decision.shadow import PairFigures, ShadowTrading
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.evaluation.exploring_log import ExploringLog, OffPolicyReport
from quantum_trader.evaluation.offpolicy import BootstrapSettings
from quantum_trader.lifecycle import ComponentContext, Hooks, Lifecycle
from quantum_trader.status.registry import ModuleHandle, ModuleState

log = structlog.get_logger("quantum_trader.qlearning")


@dataclass(slots=True)
class QLearningShadow:
    """The Q-learner of a run, its pair of shadow accounts and, once the pair finished, its
    figures."""

    selector: QLearningSelector
    log: ExploringLog  # the learner as its account's selector, its choices logged
    trading: ShadowTrading
    handle: ModuleHandle
    figures: PairFigures | None = None
    offpolicy: OffPolicyReport | None = None

    def summary(self) -> dict[str, Any]:
        """The run summary's ``qlearning_shadow`` (``app/run_report.py``)."""
        out = qlearning_summary(self.selector, self.handle.status.counters, self.figures)
        out["offpolicy"] = None if self.offpolicy is None else self.offpolicy.to_dict()
        return out


def attach_qlearning(
    rt: Runtime,
    composer: ShadowComposer,
    lifecycle: Lifecycle,
    replay: Callable[[], Iterable[Bar]],
) -> QLearningShadow | None:
    """Register module 14 and, when ``QT_QLEARNING`` is on, start its pair of shadow accounts
    at the clock's now, fed after production on every candle of ``composer``'s session;
    ``replay``: the candles it will follow (for the accounts' batch votes). None when the
    module is off or its pair cannot be built (the status says why)."""
    settings = rt.settings
    twin = settings.selector
    handle = rt.register(
        MODULE,
        f"tabular Q-learning strategy selector, the challenger: it chooses for a shadow account "
        f"paired with a twin on production's selector ({twin})",
    )
    if not handle.enabled:
        return None
    scope, now = qlearning_scope(settings), rt.clock.now()
    repository = _Loads(SqlQTableRepository(rt.db))
    selector = QLearningSelector(
        qlearning_config(settings),
        seed=settings.seed,
        repository=repository,
        scope=scope,
        handle=handle,
    )
    logged = ExploringLog(selector)
    try:
        pair = composer.selector_pair(logged, now, replay=replay)
    except (OSError, ValueError) as exc:  # the store's warm-up candles cannot be read
        log.warning("qlearning.shadow_not_started", error=str(exc))
        handle.set_state(ModuleState.DEGRADED, f"its shadow accounts could not start: {exc}")
        return None
    shadow: QLearningShadow

    def finished(figures: PairFigures) -> None:
        shadow.figures = figures
        report = shadow.offpolicy = logged.report(pair.challenger.trades, bootstrap)
        log.info("qlearning.shadow_finished", summary=figures.summary(), offpolicy=report.summary())
        handle.gauge("shadow_votes_prepared", pair.prepared_votes)
        handle.gauge("offpolicy_choices", report.choices)
        if handle.status.state is ModuleState.ACTIVE:
            handle.set_state(
                ModuleState.ACTIVE, f"vs {twin}: {figures.summary()}; {report.summary()}"
            )

    # a day of candles of every symbol per resampled block: one day's choices move together
    day = len(settings.symbols) * max(1, MS_PER_DAY // timeframe_ms(settings.timeframe))
    bootstrap = BootstrapSettings(block=day, seed=settings.seed)
    shadow = QLearningShadow(
        selector, logged, follow_pair(composer, pair, handle, finished), handle
    )
    component = qlearning_component(selector)

    def start(ctx: ComponentContext) -> None:
        """Restore the table and follow the challenger account's bus (never production's)."""
        try:
            component.start(replace(ctx, bus=pair.challenger.bus))
        except CorruptQTableError as exc:
            log.warning("qlearning.table_refused", scope=scope, error=str(exc))
            handle.set_state(
                ModuleState.DEGRADED,
                f"its stored table {scope} was refused ({exc}): it chooses on a fresh table "
                "this run and learns and saves nothing (the stored one is left as it is)",
            )
            return
        stored = repository.loaded
        if stored is not None:
            in_sample = stored.saved_at > now
            log.info(
                "qlearning.table_restored",
                scope=scope,
                updates=stored.updates,
                saved_at=fmt(stored.saved_at),
                in_sample=in_sample,
            )
            if in_sample:  # learnt from candles this replay judges it on
                handle.count("restored_after_replay_start")

    lifecycle.start(Hooks(MODULE, start=start, stop=component.stop))
    # stopped before the learner saves: the last trades it learns from close with the pair
    lifecycle.start(Hooks(f"{MODULE}.shadow", stop=shadow.trading.finish_all))
    log.info("qlearning.shadow_started", scope=scope, twin=twin, at=fmt(now))
    return shadow


class _Loads:
    """The Q-table repository, remembering the snapshot it last loaded (its engine time says
    whether the table learnt from candles after the replay's start)."""

    def __init__(self, inner: QTableRepository) -> None:
        self.inner = inner
        self.loaded: QTableSnapshot | None = None

    def save(self, snapshot: QTableSnapshot) -> None:
        self.inner.save(snapshot)

    def load(self, scope: str) -> QTableSnapshot | None:
        self.loaded = self.inner.load(scope)
        return self.loaded
