"""Risk and safety: pre-trade rules, trading state, circuit breaker and kill switch."""

from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import Outcome, RiskDecision, RuleResult, Verdict
from quantum_trader.risk.engine import RiskEngine, approved_intent, run_rules
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchState, KillSwitchStore
from quantum_trader.risk.policy_source import FixedPolicySource, PolicySource, StorePolicySource
from quantum_trader.risk.portfolio_view import OpenPosition, PortfolioView
from quantum_trader.risk.ports import RiskJournal
from quantum_trader.risk.state import CircuitBreaker, TradingState, TradingStateChange

__all__ = [
    "CheckContext",
    "CircuitBreaker",
    "FixedPolicySource",
    "KillSwitch",
    "KillSwitchState",
    "KillSwitchStore",
    "OpenPosition",
    "Outcome",
    "PolicySource",
    "PortfolioView",
    "RiskConfig",
    "RiskDecision",
    "RiskEngine",
    "RiskJournal",
    "RuleResult",
    "StorePolicySource",
    "TradingState",
    "TradingStateChange",
    "Verdict",
    "approved_intent",
    "run_rules",
]
