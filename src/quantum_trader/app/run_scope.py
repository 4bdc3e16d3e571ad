"""Journals scoped to one replay run.

A replay is a simulation of its own: it must not start in the trading state or risk mode that an
earlier replay (of the same candles, perhaps) ended in. These wrappers write every change through
to the shared database — the audit trail keeps everything — but answer "what is the latest
change?" only with what this run recorded. Live and paper runs use the journals unwrapped, so a
restart continues where it stopped. The kill switch is never scoped: it is a person's decision.
"""

from __future__ import annotations

from quantum_trader.risk.decision import RiskDecision
from quantum_trader.risk.ports import RiskJournal
from quantum_trader.risk.state import TradingStateChange
from quantum_trader.strategy.risk_modes import ModeChange, ModeJournal


class RunScopedRiskJournal:
    def __init__(self, inner: RiskJournal) -> None:
        self._inner = inner
        self._latest: TradingStateChange | None = None

    def record_decision(self, decision: RiskDecision) -> None:
        self._inner.record_decision(decision)

    def record_state_change(self, change: TradingStateChange) -> None:
        self._inner.record_state_change(change)
        self._latest = change

    def latest_state_change(self) -> TradingStateChange | None:
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
