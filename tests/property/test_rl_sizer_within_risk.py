"""Property (issue 18, acceptance): no order sized by the RL sizer exceeds what the risk engine
allows, and f = 0 in REDUCING and HALTED — 10,000 cases.

Each case draws an account (equity, peak, the day's PnL, open positions, an engaged kill switch
now and then), a trading policy, an entry and a sizing policy (a real linear ONNX policy of a
drawn seed, or a stub answering drawn probabilities — NaN included). The real
:class:`RiskEngine` is built over that account and refreshed: its trading state is what the
pipeline puts in the sizer's selection context. Asserted, with ``base`` the base sizer's
(fixed fractional) quantity for the same request and ``allowed`` the quantity the engine
approves for the same entry at an oversized quantity (its allowance; 0 if it rejects it):

1. the RL sizer's quantity ``q`` is ``f × base`` with ``f`` one of the fraction levels in
   [0, 1] (or ``base`` itself on a fallback), so ``0 ≤ q ≤ base``;
2. in REDUCING and HALTED, ``q = 0`` (no order), whatever the policy answers;
3. the engine's verdict on the RL-sized order sends at most ``min(q, allowed)``: it never sends
   more than the RL sizer asked for nor more than the engine allows for that entry;
4. the RL sizer never causes a trim: when the base order is within the allowance, so is
   the RL order (``q ≤ allowed``), and the engine does not trim it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, FRACTION_LEVELS, RLSizer
from quantum_trader.agents.sizing_observation import sizing_observation
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.risk import TradingState
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import approved_intent
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import SelectionContext
from quantum_trader.strategy.sizing import FixedFractionalSizer, SizingRequest, to_order_intent
from tests.risk.fakes import FakePortfolio, MemoryKillSwitchStore
from tests.risk.helpers import T0, engine

TOL = 1e-9
PRICES = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


@dataclass
class StubPolicy:
    """OnnxPolicy's serving surface answering fixed probabilities (any numbers, NaN too)."""

    probs: list[float]
    version: str = "stub@1"
    actions: tuple[str, ...] = FRACTION_ACTIONS

    def probabilities(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(self.probs, dtype=np.float64)


@dataclass(frozen=True)
class Case:
    portfolio: FakePortfolio
    policy: TradingPolicy
    kill: bool
    request_args: tuple[str, Side, float, float, Regime | None]  # symbol, side, price, stop
    probs: list[float]


probabilities = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.just(float("nan"))), min_size=5, max_size=5
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    equity = draw(st.floats(100.0, 200_000.0))
    peak = equity / (1.0 - draw(st.sampled_from([0.0, 0.02, 0.08, 0.12, 0.25])))
    daily = -draw(st.sampled_from([0.0, 0.01, 0.06])) * equity
    pf = FakePortfolio(equity, peak, daily)
    for symbol, price in PRICES.items():
        pf.marks[symbol] = price * draw(st.floats(0.98, 1.02))
        pf.candle_close[symbol] = T0
        if draw(st.integers(0, 3)) == 0:
            notional = draw(st.floats(0.01, 1.4)) * equity
            sign = draw(st.sampled_from([1.0, -1.0]))
            pf.positions[symbol] = OpenPosition(sign * notional / price, price)
    policy = TradingPolicy(
        max_leverage=draw(st.floats(1.0, 5.0)), risk_per_trade=draw(st.floats(0.001, 0.05))
    )
    symbol = draw(st.sampled_from(sorted(PRICES)))
    args = (symbol, draw(st.sampled_from(list(Side))), pf.marks[symbol],
            draw(st.floats(0.002, 0.08)), draw(st.sampled_from([*Regime, None])))  # fmt: skip
    return Case(pf, policy, draw(st.integers(0, 9)) == 0, args, draw(probabilities))


def _request(case: Case, state: TradingState) -> SizingRequest:
    symbol, side, price, stop, regime = case.request_args
    sign = side.sign
    intent = TradeIntent(symbol, T0, TradeAction.ENTRY, side, price, "TrendFollowing", "p", 0.6,
                         price * (1 - sign * stop), price * (1 + 2 * sign * stop))  # fmt: skip
    pf = case.portfolio
    gross = sum(abs(p.quantity) * pf.marks[s] for s, p in pf.positions.items())
    ctx = SelectionContext(symbol, T0, regime, None, 0.5, 0.3, pf.daily, RiskMode.MODERATE,
                           state, equity=pf.equity_now,
                           drawdown=1 - pf.equity_now / pf.peak)  # fmt: skip
    return SizingRequest(intent, pf.equity_now, case.policy, gross, ctx)


_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=10_000, deadline=None, suppress_health_check=_HEALTH)
@given(cases())
def test_the_rl_sizer_never_sizes_beyond_the_base_nor_what_the_risk_engine_allows(
    case: Case,
) -> None:
    check(case)


def test_the_cases_reach_every_state_and_every_way_of_deciding() -> None:
    """The property is not vacuous: its cases reach REDUCING, HALTED, the policy deciding,
    the fallback (non-finite probabilities) deciding, and trims by the engine."""
    seen: dict[str, int] = {}

    @settings(max_examples=1_000, deadline=None, suppress_health_check=_HEALTH)
    @given(cases())
    def run(case: Case) -> None:
        check(case, seen)

    run()
    assert {"REDUCING", "HALTED", "policy", "fallback", "TRIMMED", "APPROVED"} <= set(seen), seen


def check(case: Case, seen: dict[str, int] | None = None) -> None:
    """The four assertions of the module docstring on one case; ``seen`` tallies the paths."""
    seen = {} if seen is None else seen
    clock = SimulatedClock(T0)
    store = MemoryKillSwitchStore()
    if case.kill:
        KillSwitch(store, clock).engage("property test", by="test")
    risk = engine(case.portfolio, clock, policy=FixedPolicySource(case.policy), store=store)
    state = risk.refresh_state()
    req = _request(case, state)
    sizer = RLSizer(StubPolicy(case.probs), sizing_observation)  # type: ignore[arg-type]
    q = sizer.size(req).quantity
    base = FixedFractionalSizer().size(req).quantity
    decision = sizer.last_decision
    assert decision is not None
    # 1. a fraction level of the base, never more than the base
    assert decision.fraction in FRACTION_LEVELS and 0.0 <= q <= base * (1 + TOL)
    # 2. f = 0 in REDUCING and HALTED, whatever the probabilities
    if state is not TradingState.ACTIVE:
        assert q == 0.0 and decision.decided_by == "forced_zero"
        seen[state.value] = seen.get(state.value, 0) + 1
        return
    seen[decision.decided_by] = seen.get(decision.decided_by, 0) + 1
    probe = risk.evaluate(to_order_intent(req.intent, 1e3 * base + 1.0, case.policy))
    allowed = probe.final_quantity if probe.passed else 0.0
    if q <= 0.0:
        return  # no order
    verdict = risk.evaluate(to_order_intent(req.intent, q, case.policy))
    sent = approved_intent(verdict)
    seen[verdict.outcome.value] = seen.get(verdict.outcome.value, 0) + 1
    # 3. never more than asked, never more than the engine allows for this entry
    sent_q = sent.quantity if sent is not None else 0.0
    assert sent_q <= q * (1 + TOL) and sent_q <= allowed * (1 + TOL), (q, allowed, verdict)
    # 4. within the allowance whenever the base is: the RL sizer never causes a trim
    if base <= allowed:
        assert q <= allowed * (1 + TOL)
        assert verdict.outcome is not Outcome.TRIMMED, verdict.reasons
