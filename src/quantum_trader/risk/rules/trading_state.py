"""Trading state and reduce-only: what REDUCING and HALTED let through."""

from __future__ import annotations

from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import RuleResult
from quantum_trader.risk.state import TradingState


def _only_reducing(ctx: CheckContext, quantity: float, rule: str, why: str) -> RuleResult:
    if ctx.is_reducing(quantity):
        return RuleResult.ok(rule)
    p = ctx.position
    if p * ctx.intent.side.sign < 0:
        return RuleResult.trim(rule, abs(p), f"{why}: trimmed to close {abs(p):g} without flipping")
    return RuleResult.reject(rule, f"{why}: order does not reduce a position (held {p:g})")


def check_trading_state(ctx: CheckContext, quantity: float) -> RuleResult:
    """HALTED passes nothing; REDUCING passes only reducing orders."""
    if ctx.state is TradingState.HALTED:
        why = f" ({ctx.state_reason})" if ctx.state_reason else ""
        return RuleResult.reject("trading_state", f"trading HALTED{why}: no new orders")
    if ctx.state is TradingState.REDUCING:
        why = f" ({ctx.state_reason})" if ctx.state_reason else ""
        return _only_reducing(ctx, quantity, "trading_state", f"trading REDUCING{why}")
    return RuleResult.ok("trading_state")


def check_reduce_only(ctx: CheckContext, quantity: float) -> RuleResult:
    """A reduce-only order must reduce the position it names."""
    if not ctx.intent.reduce_only:
        return RuleResult.ok("reduce_only")
    return _only_reducing(ctx, quantity, "reduce_only", "reduce-only order")
