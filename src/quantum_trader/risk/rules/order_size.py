"""Order size: max notional per order, risk per trade, and the venue's minimum notional."""

from __future__ import annotations

from quantum_trader.risk.context import EPS, CheckContext
from quantum_trader.risk.decision import RuleResult

NO_PRICE = "needs a valid price"


def _ref(ctx: CheckContext) -> float | None:
    return ctx.reference_price if ctx.valid_mark is not None else None


def check_order_notional(ctx: CheckContext, quantity: float) -> RuleResult:
    """Notional of one order within ``max_order_notional`` (reducing orders too)."""
    ref = _ref(ctx)
    if ref is None:
        return RuleResult.reject("order_notional", NO_PRICE)
    cap = ctx.config.max_order_notional
    if quantity * ref <= cap * (1 + EPS):
        return RuleResult.ok("order_notional")
    allowed = cap / ref
    return RuleResult.trim(
        "order_notional", allowed, f"order notional {quantity * ref:g} > max {cap:g}"
    )


def stop_distance(ctx: CheckContext, ref: float) -> float:
    """Price distance to the stop: the intent's stop-loss, else the policy's stop distance."""
    if ctx.intent.stop_loss is not None:
        return abs(ref - ctx.intent.stop_loss)
    return ref * ctx.policy.stop_loss_pct


def check_risk_per_trade(ctx: CheckContext, quantity: float) -> RuleResult:
    """Loss at the stop of the added exposure within ``policy.risk_per_trade`` × equity."""
    opening = ctx.opening_quantity(quantity)
    if opening <= 0:
        return RuleResult.ok("risk_per_trade")
    ref = _ref(ctx)
    if ref is None:
        return RuleResult.reject("risk_per_trade", NO_PRICE)
    budget = ctx.policy.risk_per_trade * max(ctx.equity, 0.0)
    budget *= 1 + ctx.config.risk_per_trade_tolerance
    dist = stop_distance(ctx, ref)
    if opening * dist <= budget * (1 + EPS):
        return RuleResult.ok("risk_per_trade")
    allowed_opening = budget / dist
    allowed = quantity - opening + allowed_opening
    if allowed <= 0:
        return RuleResult.reject("risk_per_trade", "no risk budget left for this trade")
    return RuleResult.trim(
        "risk_per_trade",
        allowed,
        f"risk at stop {opening * dist:g} > {ctx.policy.risk_per_trade:.2%} of equity ({budget:g})",
    )


def check_min_notional(ctx: CheckContext, quantity: float) -> RuleResult:
    """Notional at least ``min_order_notional``, except an order that closes the whole position."""
    ref = _ref(ctx)
    if ref is None:
        return RuleResult.reject("min_notional", NO_PRICE)
    minimum = ctx.config.min_order_notional
    closes_all = ctx.is_reducing(quantity) and abs(ctx.after(quantity)) <= abs(ctx.position) * EPS
    if quantity * ref >= minimum or closes_all:
        return RuleResult.ok("min_notional")
    return RuleResult.reject(
        "min_notional", f"order notional {quantity * ref:g} < venue minimum {minimum:g}"
    )
