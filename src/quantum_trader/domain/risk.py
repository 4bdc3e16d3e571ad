"""The risk engine's published records: the verdict on an order intent and trading-state changes.

They live in the domain, not in ``risk/``, because other modules and the bus read them: the
``risk.decision`` and ``risk.state.changed`` topics (``bus/topics.py``) are typed by them, the
decision pipeline reads an :class:`Outcome`, and the SQL journal stores both. ``risk/`` keeps
the rules and the engine that produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import RiskMode


class TradingState(StrEnum):
    """ACTIVE: orders that pass the rules go; REDUCING: only reducing orders; HALTED: none."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class TradingStateChange:
    """A transition of the trading state, with why and who (``by``)."""

    at: int
    previous: TradingState
    state: TradingState
    reason: str
    by: str
    halt_latched: bool


@dataclass(frozen=True, slots=True)
class BreakerMemory:
    """What the drawdown breaker must remember across a restart (``risk_breaker_state``).

    ``breaker_peak`` is the reference of REDUCING: the highest equity since the last release
    (the equity at release, then every higher one). ``all_time_peak`` is the reference of
    HALTED: the highest equity the breaker has seen (only an operator's halt reset moves it
    down, to the equity at the reset). ``reducing_since`` / ``flat_since`` are the engine times
    at which the drawdown REDUCING began and the account was last seen to become flat (None:
    not reducing by drawdown / a position is open).
    """

    at: int
    breaker_peak: float
    all_time_peak: float
    releases: int
    reducing_by_drawdown: bool
    reducing_since: int | None
    flat_since: int | None


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    TRIMMED = "TRIMMED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The verdict on one order intent; published on ``risk.decision`` and persisted.

    ``final_quantity`` is what may be sent (0 when REJECTED); ``reasons`` name the rules that
    trimmed or rejected, in the words of the rule.
    """

    decision_id: str
    outcome: Outcome
    intent: OrderIntent
    final_quantity: float
    reasons: tuple[str, ...]
    time: int
    trading_state: TradingState
    risk_mode: RiskMode

    @property
    def passed(self) -> bool:
        return self.outcome is not Outcome.REJECTED
