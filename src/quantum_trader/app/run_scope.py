"""Journals scoped to one replay run.

A replay is a simulation of its own: it must not start in the trading state or risk mode that an
earlier replay (of the same candles, perhaps) ended in. These wrappers write every change through
to the shared database — the audit trail keeps everything — but answer "what is the latest
change?" only with what this run recorded. Live and paper runs use the journals unwrapped, so a
restart continues where it stopped. The kill switch is never scoped: it is a person's decision.

While the replay part of a run lasts, risk decisions are written in batches of
:data:`DECISION_BATCH` (one transaction each) instead of one transaction per decision: like the
replay's orders and fills, which the runner commits every 1,000 candles, they serve the audit
trail, and a replay cannot resume mid-way anyway. The drawdown breaker's memory (its peaks,
which move with every new equity high) is kept the same way: the latest is written with each
batch, at every trading-state change and at the end. The composition root also flushes them
before every checkpoint commit (``PipelineComposer.flush_journals``), so a checkpoint never holds
an order whose approving decision is still in memory: a crash loses both or neither. Once the run
goes live each decision is written before the order it allows, and
:meth:`RunScopedRiskJournal.flush` writes what is pending when the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from quantum_trader.risk.decision import RiskDecision
from quantum_trader.risk.engine import by_engine
from quantum_trader.risk.ports import RiskJournal
from quantum_trader.risk.state import BreakerMemory, TradingStateChange
from quantum_trader.strategy.risk_modes import ModeChange, ModeJournal

#: risk decisions written per transaction while a replay lasts
DECISION_BATCH = 256


class BatchRiskJournal(RiskJournal, Protocol):
    """A journal that can also write many decisions in one transaction."""

    def record_decisions(self, decisions: Sequence[RiskDecision]) -> None: ...


class RunScopedRiskJournal:
    def __init__(
        self, inner: BatchRiskJournal, replaying: Callable[[], bool] = lambda: False
    ) -> None:
        self._inner = inner
        self._latest: TradingStateChange | None = None
        self._replaying = replaying
        self._pending: list[RiskDecision] = []
        self._breaker: BreakerMemory | None = None  # this run's latest breaker memory
        self._breaker_pending = False
        #: what earlier runs left: never adopted, not even an operator's reset
        self._before_run = inner.latest_state_change()

    def record_decision(self, decision: RiskDecision) -> None:
        if self._replaying():
            self._pending.append(decision)
            if len(self._pending) >= DECISION_BATCH:
                self.flush()
            return
        self.flush()  # the replay's last decisions first, in order
        self._inner.record_decision(decision)

    def flush(self) -> None:
        """Write the decisions still pending and the breaker's latest memory (the end of a run,
        or of its replay)."""
        if self._pending:
            pending, self._pending = self._pending, []
            self._inner.record_decisions(pending)
        if self._breaker_pending and self._breaker is not None:
            self._breaker_pending = False
            self._inner.record_breaker(self._breaker)

    def record_breaker(self, memory: BreakerMemory) -> None:
        """The breaker's memory changes with every new equity high: while the replay lasts only
        the latest is kept, written with the next batch of decisions (and at the end)."""
        self._breaker = memory
        self._breaker_pending = True
        if not self._replaying():
            self.flush()

    def latest_breaker(self) -> BreakerMemory | None:
        """This run's latest: an earlier run's peaks are never adopted."""
        return self._breaker

    def record_state_change(self, change: TradingStateChange) -> None:
        self.flush()  # the decisions that led to the change come first in the audit trail
        self._inner.record_state_change(change)
        self._latest = change

    def latest_state_change(self) -> TradingStateChange | None:
        """This run's latest change; once live, an operator's halt reset written since the run
        began (by anyone but the risk engine, not latched) is global, like the kill switch."""
        if self._replaying():
            return self._latest
        shared = self._inner.latest_state_change()
        if (
            shared is not None
            and not by_engine(shared.by)
            and not shared.halt_latched
            and shared != self._before_run
        ):
            return shared
        return self._latest


class RunScopedModeJournal:
    def __init__(self, inner: ModeJournal) -> None:
        self._inner = inner
        self._latest: ModeChange | None = None

    def record_mode_change(self, change: ModeChange) -> None:
        self._inner.record_mode_change(change)
        self._latest = change

    def latest_mode_change(self) -> ModeChange | None:
        return self._latest
