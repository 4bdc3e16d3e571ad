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


def check_warm_up(ctx: CheckContext, quantity: float) -> RuleResult:
    """No new exposure on a symbol whose features still span a hole in its live candles.

    After the live feed skipped candles of it, the symbol's windows (counted in candles) read
    candles from before the hole until ``ctx.warm_up.candles`` new ones have closed
    (``risk/warm_up.py``). Reducing orders pass, as for stale data.
    """
    warm = ctx.warm_up
    if warm is None or ctx.is_reducing(quantity):
        return RuleResult.ok("warm_up")
    last = ctx.last_candle_close
    if last is not None and last >= warm.until:
        return RuleResult.ok("warm_up")
    return RuleResult.reject(
        "warm_up",
        f"{ctx.intent.symbol} rejoined the live feed at {fmt(warm.since)} after "
        f"{warm.skipped} skipped candle{'' if warm.skipped == 1 else 's'}; its features span "
        f"the hole for {warm.left(last)} more of "
        f"{warm.candles} candles (entries from the candle closing at {fmt(warm.until)})",
    )
