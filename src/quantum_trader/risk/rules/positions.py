"""Max open positions: a new position needs a free slot under the policy."""

from __future__ import annotations

from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import RuleResult


def check_max_open_positions(ctx: CheckContext, quantity: float) -> RuleResult:
    if ctx.position != 0:
        return RuleResult.ok("max_open_positions")  # adds to, cuts or flips an existing one
    open_count = sum(1 for q in ctx.positions.values() if q != 0)
    limit = ctx.policy.max_open_positions
    if open_count >= limit:
        return RuleResult.reject(
            "max_open_positions", f"{open_count} positions open, policy allows {limit}"
        )
    return RuleResult.ok("max_open_positions")
