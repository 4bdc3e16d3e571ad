"""Storage ports of the risk engine; the SQL adapter implements them."""

from __future__ import annotations

from typing import Protocol

from quantum_trader.risk.decision import RiskDecision
from quantum_trader.risk.state import BreakerMemory, TradingStateChange


class RiskJournal(Protocol):
    """Where every decision and every trading-state change is written, and what the drawdown
    breaker remembers (its peaks, releases and timers) so that a restart goes on from it."""

    def record_decision(self, decision: RiskDecision) -> None: ...

    def record_state_change(self, change: TradingStateChange) -> None: ...

    def latest_state_change(self) -> TradingStateChange | None: ...

    def record_breaker(self, memory: BreakerMemory) -> None: ...

    def latest_breaker(self) -> BreakerMemory | None: ...
