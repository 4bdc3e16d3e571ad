"""Typed records the risk engine produces: rule results and the final decision."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import RiskMode
from quantum_trader.risk.state import TradingState


class Verdict(StrEnum):
    PASS = "PASS"
    TRIM = "TRIM"
    REJECT = "REJECT"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's answer for one quantity: pass, trim to ``max_quantity``, or reject."""

    rule: str
    verdict: Verdict
    reason: str = ""
    max_quantity: float | None = None

    @classmethod
    def ok(cls, rule: str) -> RuleResult:
        return cls(rule, Verdict.PASS)

    @classmethod
    def trim(cls, rule: str, max_quantity: float, reason: str) -> RuleResult:
        return cls(rule, Verdict.TRIM, reason, max_quantity)

    @classmethod
    def reject(cls, rule: str, reason: str) -> RuleResult:
        return cls(rule, Verdict.REJECT, reason)


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
