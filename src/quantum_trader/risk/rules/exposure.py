"""Exposure limits: per-symbol, total, and the policy's leverage.

Each caps the absolute position in the intent's symbol after the fill; an order that only
reduces the position passes whatever the cap (it lowers exposure), an order that would exceed
the cap is trimmed to it, and one that cannot add anything is rejected.
"""

from __future__ import annotations

from quantum_trader.risk.context import EPS, CheckContext
from quantum_trader.risk.decision import RuleResult


def cap_position(
    ctx: CheckContext, quantity: float, cap_qty: float, rule: str, what: str
) -> RuleResult:
    """Keep ``|position after|`` within ``cap_qty`` (trim), unless the order only reduces."""
    cap_qty = max(cap_qty, 0.0)
    after = abs(ctx.after(quantity))
    if after <= cap_qty * (1 + EPS) or ctx.is_reducing(quantity):
        return RuleResult.ok(rule)
    p = ctx.position
    flips = p * ctx.intent.side.sign < 0
    # a flip may close, then open up to the cap the other way
    allowed = abs(p) + cap_qty if flips else cap_qty - abs(p)
    if allowed <= 0:
        return RuleResult.reject(rule, f"{what}: no room (position {p:g}, cap {cap_qty:g})")
    return RuleResult.trim(rule, allowed, f"{what}: trimmed {quantity:g} → {allowed:g}")


NO_PRICE = "needs a valid mark price"


def _room_qty(ctx: CheckContext, mark: float, gross_limit: float) -> float:
    return (gross_limit - ctx.gross_exposure_others()) / mark


def check_leverage(ctx: CheckContext, quantity: float) -> RuleResult:
    """Order leverage and account gross leverage within ``policy.max_leverage``."""
    max_lev = ctx.policy.max_leverage
    if ctx.intent.leverage > max_lev * (1 + EPS) and not ctx.is_reducing(quantity):
        return RuleResult.reject(
            "leverage", f"order leverage {ctx.intent.leverage:g} > policy max {max_lev:g}"
        )
    mark = ctx.valid_mark
    if mark is None:
        return RuleResult.reject("leverage", NO_PRICE)
    room = _room_qty(ctx, mark, max_lev * max(ctx.equity, 0.0))
    return cap_position(ctx, quantity, room, "leverage", f"gross leverage cap {max_lev:g}×")


def check_total_exposure(ctx: CheckContext, quantity: float) -> RuleResult:
    """Gross notional of all positions within ``max_total_exposure`` × equity."""
    mark = ctx.valid_mark
    if mark is None:
        return RuleResult.reject("total_exposure", NO_PRICE)
    multiple = ctx.config.max_total_exposure
    room = _room_qty(ctx, mark, multiple * max(ctx.equity, 0.0))
    return cap_position(ctx, quantity, room, "total_exposure", f"total exposure cap {multiple:g}×")


def check_symbol_exposure(ctx: CheckContext, quantity: float) -> RuleResult:
    """One symbol's notional within ``max_symbol_exposure`` × equity."""
    mark = ctx.valid_mark
    if mark is None:
        return RuleResult.reject("symbol_exposure", NO_PRICE)
    multiple = ctx.config.max_symbol_exposure
    cap = multiple * max(ctx.equity, 0.0) / mark
    return cap_position(
        ctx, quantity, cap, "symbol_exposure", f"{ctx.intent.symbol} exposure cap {multiple:g}×"
    )
