"""Rule results; the final decision (:class:`RiskDecision`) is a domain record (``domain/risk.py``),
re-exported here for the modules that import it from risk."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain.risk import Outcome as Outcome
from quantum_trader.domain.risk import RiskDecision as RiskDecision


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
