"""Loss protections: equity, daily loss limit, cooldown after a losing streak."""

from __future__ import annotations

from quantum_trader.domain.time import fmt
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import RuleResult


def check_equity(ctx: CheckContext, quantity: float) -> RuleResult:
    """No new exposure without positive equity."""
    if ctx.equity > 0 or ctx.is_reducing(quantity):
        return RuleResult.ok("equity")
    return RuleResult.reject("equity", f"equity {ctx.equity:g} is not positive")


def check_daily_loss(ctx: CheckContext, quantity: float) -> RuleResult:
    """No new exposure once the day's loss reaches the limit."""
    if ctx.is_reducing(quantity):
        return RuleResult.ok("daily_loss")
    start = ctx.start_of_day_equity()
    limit = ctx.config.daily_loss_limit
    if start > 0 and -ctx.daily_pnl >= limit * start:
        return RuleResult.reject(
            "daily_loss",
            f"daily loss {-ctx.daily_pnl:g} >= {limit:.1%} of day-start equity {start:g}",
        )
    return RuleResult.ok("daily_loss")


def check_cooldown(ctx: CheckContext, quantity: float) -> RuleResult:
    """No new exposure on a symbol cooling down after consecutive losses."""
    until = ctx.cooldown_until
    if until is None or ctx.now >= until or ctx.is_reducing(quantity):
        return RuleResult.ok("cooldown")
    return RuleResult.reject(
        "cooldown",
        f"{ctx.intent.symbol} cools down until {fmt(until)} after "
        f"{ctx.config.max_consecutive_losses} consecutive losses",
    )
