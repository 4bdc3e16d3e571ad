"""Property tests of the drawdown breaker's release from REDUCING (risk/state.py).

For random equity paths — positions opened and closed, equity moving only while a position is
open, engine hours between readings — an oracle below restates the breaker's rules
independently of its code and follows the path beside it:

(a) REDUCING by drawdown releases to ACTIVE exactly when the account has been flat for the
    cool-down (counted from the later of entering REDUCING and becoming flat); after a release
    the drawdown is measured from the equity at release (and the highs after it);
(b) HALTED is reached whenever the drawdown from the all-time peak reaches the limit, whatever
    releases came before, and never ends by itself;
(c) no trading state the breaker reaches, a release included, lets an order add more exposure
    through the rules than ACTIVE (the normal state) on the same book and policy, and a
    release leaves the policy and limits as they were.

``QT_HYPOTHESIS_EXAMPLES`` sets the number of cases (default 10,000 when ``CI=true``, 500
locally), as for the rule properties.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import run_rules
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.state import CircuitBreaker, HealthReading, TradingState
from tests.risk.helpers import T0, engine, portfolio

_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
EXAMPLES = int(os.environ.get("QT_HYPOTHESIS_EXAMPLES", "10000" if _CI else "500"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
pytestmark = pytest.mark.slow  # 10,000 generated cases each in CI


@dataclass(frozen=True)
class Step:
    hours: int  # engine hours since the previous reading
    flat: bool  # no position open at this reading
    factor: float  # equity change since the previous reading (1.0 while flat)


@st.composite
def paths(draw: st.DrawFn) -> tuple[int, list[Step]]:
    """(cool-down hours, readings). Flat runs are common and long enough to release; equity
    moves only on a reading where a position is open or has just been closed."""
    cooldown_h = draw(st.sampled_from([6, 24, 72]))
    steps: list[Step] = []
    was_flat = False
    for _ in range(draw(st.integers(min_value=2, max_value=80))):
        flat = draw(st.integers(min_value=0, max_value=9)) < 4
        hours = draw(st.integers(min_value=1, max_value=cooldown_h))
        moves = not (flat and was_flat)  # a close moves equity once; a flat book does not
        factor = draw(st.floats(min_value=0.93, max_value=1.07)) if moves else 1.0
        steps.append(Step(hours, flat, factor))
        was_flat = flat
    return cooldown_h, steps


@dataclass
class Oracle:
    """The breaker's rules, restated: the test's own reading of the specification."""

    config: RiskConfig
    state: TradingState = TradingState.ACTIVE
    ref_peak: float = 0.0  # REDUCING's reference: all-time peak, then the equity at release
    all_time: float = 0.0
    latched: bool = False
    flat_start: int | None = None
    reducing_start: int | None = None
    released: bool = False  # at the last reading

    def read(self, equity: float, flat: bool, at: int) -> TradingState:
        c = self.config
        self.all_time = max(self.all_time, equity)
        self.ref_peak = max(self.ref_peak, equity)
        self.flat_start = (self.flat_start if self.flat_start is not None else at) if flat else None
        if 1 - equity / self.all_time >= c.drawdown_halted:
            self.latched = True
        dd = 1 - equity / self.ref_peak
        reducing = self.state is TradingState.REDUCING and not self.latched
        if dd >= c.drawdown_reducing:
            if not reducing:
                self.reducing_start = at
            reducing = True
        elif dd < c.drawdown_resume:
            reducing = False
        self.released = (
            reducing
            and not self.latched
            and self.flat_start is not None
            and self.reducing_start is not None
            and at - max(self.flat_start, self.reducing_start) >= c.reducing_cooldown_ms
        )
        if self.released:
            self.ref_peak = equity
            reducing = False
        self.state = (
            TradingState.HALTED
            if self.latched
            else TradingState.REDUCING
            if reducing
            else TradingState.ACTIVE
        )
        return self.state


@PROPERTY
@given(paths())
def test_a_flat_cooldown_releases_and_drawdown_restarts_from_the_equity_at_release(
    path: tuple[int, list[Step]],
) -> None:
    cooldown_h, steps = path
    config = RiskConfig(reducing_cooldown_ms=cooldown_h * MS_PER_HOUR)
    breaker = CircuitBreaker(config)
    equity = peak = 10_000.0
    oracle = Oracle(config, ref_peak=peak, all_time=peak)  # the account's history: its deposit
    at = T0
    previous = TradingState.ACTIVE
    release_equity: float | None = None
    for step in steps:
        at += step.hours * MS_PER_HOUR
        equity *= step.factor
        peak = max(peak, equity)
        releases = breaker.releases
        state, reason = breaker.assess(
            HealthReading(equity, peak, 0.0, False, flat=step.flat, at=at)
        )
        expected = oracle.read(equity, step.flat, at)
        released = breaker.releases == releases + 1
        assert breaker.releases in {releases, releases + 1}
        # a release happens exactly when the account was flat long enough while REDUCING
        assert released == oracle.released, (step, at, reason, oracle)
        if released:
            assert previous is TradingState.REDUCING and step.flat
            assert state is TradingState.ACTIVE and breaker.breaker_peak == equity
            release_equity = equity
        elif release_equity is not None:
            # measured from the equity at release and the highs since, not the all-time peak
            assert breaker.breaker_peak == oracle.ref_peak >= release_equity
        else:
            assert breaker.breaker_peak == breaker.all_time_peak == max(peak, equity)
        assert state is expected, (step, at, equity, reason, oracle)
        previous = state


@PROPERTY
@given(paths())
def test_b_halted_is_measured_from_the_all_time_peak_and_never_releases(
    path: tuple[int, list[Step]],
) -> None:
    cooldown_h, steps = path
    config = RiskConfig(reducing_cooldown_ms=cooldown_h * MS_PER_HOUR)
    breaker = CircuitBreaker(config)
    equity = peak = 10_000.0
    at = T0
    halted_at_releases: int | None = None
    for step in steps:
        at += step.hours * MS_PER_HOUR
        equity *= step.factor
        peak = max(peak, equity)
        state, reason = breaker.assess(
            HealthReading(equity, peak, 0.0, False, flat=step.flat, at=at)
        )
        assert breaker.all_time_peak == peak  # the all-time peak, releases or not
        if 1 - equity / peak >= config.drawdown_halted:
            assert state is TradingState.HALTED, (step, at, equity, peak, reason)
        if halted_at_releases is not None:
            # latched: whatever the path (flat for ever, back at the peak), it stays HALTED
            assert state is TradingState.HALTED and breaker.halt_latched, (step, reason)
            assert breaker.releases == halted_at_releases
        elif state is TradingState.HALTED:
            assert 1 - equity / peak >= config.drawdown_halted
            halted_at_releases = breaker.releases


@st.composite
def engine_paths(draw: st.DrawFn) -> tuple[int, list[Step], list[float], list[OrderIntent]]:
    cooldown_h, steps = draw(paths())
    daily = [draw(st.sampled_from([0.0, 0.0, 0.0, -200.0, -800.0])) for _ in steps]
    intents = []
    for _ in steps:
        symbol = draw(st.sampled_from(["BTCUSDT", "ETHUSDT"]))
        side = draw(st.sampled_from(list(Side)))
        qty = draw(st.floats(min_value=0.001, max_value=0.5))
        intents.append(OrderIntent(symbol, side, qty, reduce_only=draw(st.booleans())))
    return cooldown_h, steps, daily, intents


@settings(  # each case drives the whole engine and the rules twice per reading: a fifth as many
    max_examples=max(100, EXAMPLES // 5),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(engine_paths())
def test_c_releases_never_let_more_through_than_the_normal_state(
    case: tuple[int, list[Step], list[float], list[OrderIntent]],
) -> None:
    cooldown_h, steps, daily, intents = case
    config = RiskConfig(reducing_cooldown_ms=cooldown_h * MS_PER_HOUR)
    clock = SimulatedClock(T0)
    pf = portfolio()
    eng = engine(pf, clock, config=config)
    equity = 10_000.0
    at = T0
    for step, loss, intent in zip(steps, daily, intents, strict=True):
        at += step.hours * MS_PER_HOUR
        clock.advance_to(at)
        pf.candle_close.update(dict.fromkeys(pf.candle_close, at))
        equity *= step.factor
        pf.set_equity(equity)
        pf.daily = loss
        pf.positions = {} if step.flat else {"BTCUSDT": OpenPosition(0.02, 50_000.0)}
        releases = eng.breaker.releases
        state = eng.refresh_state()
        ctx = eng.context(intent)
        outcome, qty, _ = run_rules(ctx)
        normal, normal_qty, _ = run_rules(replace(ctx, state=TradingState.ACTIVE))
        # the exposure an order may add (a close that REDUCING trims a flip to adds none)
        added = ctx.opening_quantity(qty) if outcome is not Outcome.REJECTED else 0.0
        normal_added = ctx.opening_quantity(normal_qty) if normal is not Outcome.REJECTED else 0.0
        assert added <= normal_added, (state, outcome, normal, ctx)
        assert ctx.config is config and ctx.policy == eng.context(intent).policy
        if eng.breaker.releases > releases:
            # a release ends only the drawdown REDUCING: ACTIVE, or REDUCING for the day's loss
            start = equity - loss
            over_daily = loss < 0 and -loss / start >= config.daily_loss_limit
            assert state is (TradingState.REDUCING if over_daily else TradingState.ACTIVE)
