"""Price sanity and stale data: refuse to trade on a price the system cannot trust."""

from __future__ import annotations

import math

from quantum_trader.domain.orders import Side
from quantum_trader.domain.time import fmt
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import RuleResult


def check_price_sanity(ctx: CheckContext, quantity: float) -> RuleResult:
    """A mark price must exist; the order price must lie within the band around it; an entry's
    stop-loss must be on the losing side and its take-profit on the winning side."""
    mark = ctx.mark
    if mark is None or not math.isfinite(mark) or mark <= 0:
        return RuleResult.reject("price_sanity", f"no valid mark price for {ctx.intent.symbol}")
    ref = ctx.reference_price
    assert ref is not None  # the mark exists, so the reference does
    band = ctx.config.price_band
    if abs(ref / mark - 1) > band:
        return RuleResult.reject(
            "price_sanity", f"order price {ref:g} is more than {band:.1%} from mark {mark:g}"
        )
    if not math.isfinite(quantity * ref):
        return RuleResult.reject("price_sanity", f"notional of {quantity:g} × {ref:g} not finite")
    if ctx.is_reducing(quantity):
        return RuleResult.ok("price_sanity")
    long = ctx.intent.side is Side.BUY
    sl, tp = ctx.intent.stop_loss, ctx.intent.take_profit
    if sl is not None and (sl >= ref if long else sl <= ref):
        return RuleResult.reject(
            "price_sanity", f"stop-loss {sl:g} is on the wrong side of entry {ref:g}"
        )
    if tp is not None and (tp <= ref if long else tp >= ref):
        return RuleResult.reject(
            "price_sanity", f"take-profit {tp:g} is on the wrong side of entry {ref:g}"
        )
    return RuleResult.ok("price_sanity")


def check_stale_data(ctx: CheckContext, quantity: float) -> RuleResult:
    """No new exposure on a symbol whose newest candle is too old (or from the future).

    Reducing orders pass: getting out on an old price is safer than staying in.
    """
    if ctx.is_reducing(quantity):
        return RuleResult.ok("stale_data")
    last = ctx.last_candle_close
    if last is None:
        return RuleResult.reject("stale_data", f"no candle seen for {ctx.intent.symbol}")
    if last > ctx.now:
        return RuleResult.reject(
            "stale_data", f"last candle closes at {fmt(last)}, after now {fmt(ctx.now)}"
        )
    age = ctx.now - last
    if age > ctx.config.stale_data_max_age_ms:
        return RuleResult.reject(
            "stale_data",
            f"last candle of {ctx.intent.symbol} closed {age // 1000} s ago "
            f"(max {ctx.config.stale_data_max_age_ms // 1000} s)",
        )
    return RuleResult.ok("stale_data")
