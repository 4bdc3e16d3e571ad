"""Property tests of the pre-trade rules: no passing order breaches an active limit.

The oracle below restates every limit from RiskConfig and TradingPolicy independently of the
rule code, and checks it on the quantity the rules let through. CI runs at least 10,000 cases
(``QT_HYPOTHESIS_EXAMPLES``, default 10,000 when ``CI=true``, 500 locally).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.domain.orders import OrderIntent, OrderType, Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import run_rules
from quantum_trader.risk.state import TradingState

_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
EXAMPLES = int(os.environ.get("QT_HYPOTHESIS_EXAMPLES", "10000" if _CI else "500"))
TOL = 1e-6
NOW = 1_700_000_000_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
CONFIG = RiskConfig(max_order_notional=50_000.0)

prices = st.floats(min_value=0.01, max_value=100_000.0, allow_nan=False)
quantities = st.floats(min_value=1e-4, max_value=1_000.0, allow_nan=False)


def _often(draw: st.DrawFn) -> bool:
    """True 80% of the time: most cases are healthy, so the sizing limits get exercised."""
    return draw(st.integers(min_value=0, max_value=9)) < 8


@st.composite
def contexts(draw: st.DrawFn) -> CheckContext:
    marks = {s: draw(prices) for s in SYMBOLS}
    equity = draw(st.floats(min_value=-1_000.0 if not _often(draw) else 100.0, max_value=200_000.0))
    scale = max(equity, 100.0)
    positions: dict[str, float] = {}
    for s in SYMBOLS:
        if draw(st.booleans()):
            notional = draw(st.floats(min_value=0.01, max_value=1.2)) * scale
            positions[s] = draw(st.sampled_from([1.0, -1.0])) * notional / marks[s]
    symbol = draw(st.sampled_from(SYMBOLS))
    mark = marks[symbol]
    side = draw(st.sampled_from(list(Side)))
    qty_mode = draw(st.sampled_from(["notional", "notional", "close", "raw"]))
    if qty_mode == "close" and symbol in positions:
        qty = abs(positions[symbol]) * draw(st.floats(min_value=0.1, max_value=2.5))
    elif qty_mode == "notional":
        qty = draw(st.floats(min_value=0.001, max_value=4.0)) * scale / mark
    else:
        qty = draw(quantities)
    order_type = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT]))
    price = (
        mark * draw(st.floats(min_value=0.98, max_value=1.02))
        if _often(draw)
        else mark * draw(st.floats(min_value=0.9, max_value=1.1))
        if order_type is OrderType.LIMIT
        else None
    )
    ref = price if price is not None else mark
    sign = side.sign
    stop_loss = (
        ref * (1 - sign * draw(st.floats(min_value=-0.02, max_value=0.1)))
        if not _often(draw)
        else ref * (1 - sign * draw(st.floats(min_value=0.0005, max_value=0.01)))
        if draw(st.booleans())
        else None
    )
    take_profit = (
        ref
        * (
            1
            + sign * draw(st.floats(min_value=-0.02 if not _often(draw) else 0.001, max_value=0.2))
        )
        if draw(st.booleans())
        else None
    )
    intent = OrderIntent(
        symbol=symbol,
        side=side,
        quantity=qty,
        order_type=order_type,
        price=price,
        stop_loss=stop_loss if stop_loss and stop_loss > 0 else None,
        take_profit=take_profit if take_profit and take_profit > 0 else None,
        reduce_only=not _often(draw) and draw(st.booleans()),
        leverage=draw(st.sampled_from([1.0, 2.0, 3.0, 5.0, 10.0, 20.0])),
    )
    policy = TradingPolicy(
        risk_mode=draw(st.sampled_from(list(RiskMode))),
        max_open_positions=draw(st.integers(min_value=0 if not _often(draw) else 3, max_value=8)),
        max_leverage=draw(st.floats(min_value=0.5, max_value=10.0)),
        stop_loss_pct=draw(st.floats(min_value=0.005, max_value=0.1)),
        risk_per_trade=draw(st.floats(min_value=0.001, max_value=0.2)),
    )
    peak = max(equity, 1.0) * draw(st.floats(min_value=1.0, max_value=1.5))
    daily = draw(st.floats(min_value=-0.1 if not _often(draw) else -0.01, max_value=0.05))
    daily *= max(equity, 1.0)
    max_age = CONFIG.stale_data_max_age_ms
    if _often(draw):
        age = draw(st.integers(min_value=0, max_value=max_age))
    else:
        age = draw(st.integers(min_value=-10_000, max_value=3 * max_age))
    has_candle = draw(st.integers(min_value=0, max_value=19)) > 0
    cooldown = (
        None if _often(draw) else draw(st.integers(min_value=NOW - 10_000, max_value=NOW + 10_000))
    )
    return CheckContext(
        intent=intent,
        now=NOW,
        state=TradingState.ACTIVE if _often(draw) else draw(st.sampled_from(list(TradingState))),
        policy=policy,
        config=CONFIG,
        equity=equity,
        peak_equity=peak,
        daily_pnl=daily,
        positions=positions,
        marks=marks,
        last_candle_close=NOW - age if has_candle else None,
        cooldown_until=cooldown,
    )


def breaches(ctx: CheckContext, q: float) -> list[str]:
    """Every limit the order of quantity ``q`` would breach (independent restatement)."""
    out: list[str] = []
    i, cfg, pol = ctx.intent, ctx.config, ctx.policy
    p = ctx.positions.get(i.symbol, 0.0)
    after = p + i.side.sign * q
    reducing = p * i.side.sign < 0 and q <= abs(p) * (1 + TOL)
    mark = ctx.marks[i.symbol]
    ref = i.price if i.price is not None else mark
    if not 0 < q <= i.quantity * (1 + TOL):
        out.append("quantity outside (0, requested]")
    if ctx.state is TradingState.HALTED:
        out.append("passed while HALTED")
    if ctx.state is TradingState.REDUCING and not reducing:
        out.append("non-reducing order passed while REDUCING")
    if i.reduce_only and not reducing:
        out.append("reduce-only order does not reduce")
    if abs(ref / mark - 1) > cfg.price_band + TOL:
        out.append("price outside band")
    if q * ref > cfg.max_order_notional * (1 + TOL):
        out.append("order notional above max")
    if q * ref < cfg.min_order_notional * (1 - TOL) and not (
        reducing and abs(after) < abs(p) * TOL + 1e-12
    ):
        out.append("order notional below min")
    if reducing:
        return out
    # limits on new exposure
    last = ctx.last_candle_close
    if last is None or last > ctx.now or ctx.now - last > cfg.stale_data_max_age_ms:
        out.append("stale data")
    if ctx.equity <= 0:
        out.append("equity not positive")
    start = ctx.equity - ctx.daily_pnl
    if start > 0 and -ctx.daily_pnl >= cfg.daily_loss_limit * start:
        out.append("daily loss limit")
    if ctx.cooldown_until is not None and ctx.now < ctx.cooldown_until:
        out.append("symbol in cooldown")
    if p == 0 and sum(1 for v in ctx.positions.values() if v) >= pol.max_open_positions:
        out.append("max open positions")
    if i.leverage > pol.max_leverage * (1 + TOL):
        out.append("order leverage above policy")
    others = sum(abs(v) * ctx.marks[s] for s, v in ctx.positions.items() if s != i.symbol)
    gross = others + abs(after) * mark
    eq = max(ctx.equity, 0.0)
    if gross > pol.max_leverage * eq * (1 + TOL) + 1e-9:
        out.append("gross leverage above policy")
    if gross > cfg.max_total_exposure * eq * (1 + TOL) + 1e-9:
        out.append("total exposure above max")
    if abs(after) * mark > cfg.max_symbol_exposure * eq * (1 + TOL) + 1e-9:
        out.append("symbol exposure above max")
    opening = q - abs(p) if p * i.side.sign < 0 else q
    dist = abs(ref - i.stop_loss) if i.stop_loss is not None else ref * pol.stop_loss_pct
    if opening * dist > pol.risk_per_trade * eq * (1 + cfg.risk_per_trade_tolerance) * (1 + TOL):
        out.append("risk per trade above policy")
    if i.stop_loss is not None and (
        i.stop_loss >= ref if i.side is Side.BUY else i.stop_loss <= ref
    ):
        out.append("stop-loss on the wrong side")
    if i.take_profit is not None and (
        i.take_profit <= ref if i.side is Side.BUY else i.take_profit >= ref
    ):
        out.append("take-profit on the wrong side")
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(contexts())
def test_no_passing_order_breaches_a_limit(ctx: CheckContext) -> None:
    outcome, qty, reasons = run_rules(ctx)
    if outcome is Outcome.REJECTED:
        assert qty == 0.0 and reasons, "a rejection must say why"
        return
    assert breaches(ctx, qty) == [], (outcome, qty, reasons)
    if outcome is Outcome.TRIMMED:
        assert qty < ctx.intent.quantity and reasons
    else:
        assert qty == ctx.intent.quantity and reasons == ()
    if ctx.state is TradingState.HALTED:
        raise AssertionError("HALTED let an order through")


@settings(max_examples=min(EXAMPLES, 1_000), deadline=None)
@given(contexts())
def test_states_gate_orders(ctx: CheckContext) -> None:
    """HALTED passes nothing; REDUCING passes only orders that shrink the position."""
    outcome, qty, _ = run_rules(ctx)
    if ctx.state is TradingState.HALTED:
        assert outcome is Outcome.REJECTED
    elif ctx.state is TradingState.REDUCING and outcome is not Outcome.REJECTED:
        p = ctx.position
        assert p * ctx.intent.side.sign < 0 and qty <= abs(p) * (1 + TOL)


def test_every_outcome_is_reachable() -> None:
    """The property above is not vacuous: the generator reaches every outcome and state."""
    from hypothesis import Phase, find

    quick = settings(phases=[Phase.generate], max_examples=5_000, database=None)  # no shrinking
    for outcome in Outcome:
        find(contexts(), lambda c, o=outcome: run_rules(c)[0] is o, settings=quick)  # type: ignore[misc]
    find(
        contexts(),
        lambda c: c.state is TradingState.REDUCING and run_rules(c)[0] is not Outcome.REJECTED,
        settings=quick,
    )
