"""A risk journal held in memory, for a risk engine whose decisions are nobody's record.

The risk engine of a shadow account (``decision/shadow.py``) decides on orders that never
reach a venue: writing its decisions and state changes into the run's database would mix them
with production's audit trail. It keeps them here instead, for as long as the shadow lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantum_trader.risk.decision import RiskDecision
from quantum_trader.risk.state import BreakerMemory, TradingStateChange


@dataclass
class MemoryRiskJournal:
    """The :class:`~quantum_trader.risk.ports.RiskJournal` port, in lists (tests use it too)."""

    decisions: list[RiskDecision] = field(default_factory=list)
    changes: list[TradingStateChange] = field(default_factory=list)
    breaker: list[BreakerMemory] = field(default_factory=list)

    def record_decision(self, decision: RiskDecision) -> None:
        self.decisions.append(decision)

    def record_state_change(self, change: TradingStateChange) -> None:
        self.changes.append(change)

    def latest_state_change(self) -> TradingStateChange | None:
        return self.changes[-1] if self.changes else None

    def record_breaker(self, memory: BreakerMemory) -> None:
        self.breaker.append(memory)

    def latest_breaker(self) -> BreakerMemory | None:
        return self.breaker[-1] if self.breaker else None
