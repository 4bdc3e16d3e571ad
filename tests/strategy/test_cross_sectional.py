"""The cross-sectional strategy (issue 24 item 4) and the bet sizing of meta-labelling (item 3)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.signals import Direction, ModelVote, Signal
from quantum_trader.strategy import MarketState, SizingRequest, TradeAction, TradeIntent
from quantum_trader.strategy.bet_sizing import BetSizer, bet_size, win_probability
from quantum_trader.strategy.selector import FixedSelector, SelectionContext
from quantum_trader.strategy.sizing import FixedFractionalSizer
from quantum_trader.strategy.strategies import CrossSectional, StrategyConfig

POLICY = TradingPolicy()
T0 = 1_700_000_000_000


def _market(rank: float | None, close: float = 100.0) -> MarketState:
    return MarketState("SOLUSDT", T0, close, 1.0, 105.0, 95.0, 100.0, 2.0, None, 0.5, rank)


def _signal(direction: Direction, p: tuple[float, float, float] = (0.2, 0.2, 0.6)) -> Signal:
    return Signal("SOLUSDT", T0, direction, max(p), 0.3, (ModelVote("xgb", *p),))


PRIMARY = StrategyConfig(entry_rule="primary")


@pytest.mark.parametrize(
    ("rank", "side"),
    [
        (1.0, Side.BUY),
        (0.75, Side.BUY),
        (0.74, None),
        (0.5, None),
        (0.26, None),
        (0.25, Side.SELL),
        (0.0, Side.SELL),
        (None, None),
    ],
)
def test_the_rule_is_long_the_strongest_and_short_the_weakest(
    rank: float | None, side: Side | None
) -> None:
    intent = CrossSectional(PRIMARY).decide(_signal(Direction.FLAT), _market(rank), 0.0, POLICY)
    if side is None:
        assert intent is None
    else:
        assert intent is not None and intent.action is TradeAction.ENTRY and intent.side is side
        assert intent.stop_loss == pytest.approx(100.0 - side.sign * 2.0)  # the policy's 2 %


def test_under_the_signal_rule_the_ensemble_must_agree() -> None:
    s = CrossSectional()
    assert s.decide(_signal(Direction.DOWN), _market(1.0), 0.0, POLICY) is None
    assert s.decide(_signal(Direction.FLAT), _market(1.0), 0.0, POLICY) is None
    entry = s.decide(_signal(Direction.UP), _market(1.0), 0.0, POLICY)
    assert entry is not None and entry.side is Side.BUY
    short = s.decide(_signal(Direction.DOWN, (0.6, 0.2, 0.2)), _market(0.0), 0.0, POLICY)
    assert short is not None and short.side is Side.SELL


def test_it_holds_until_the_rank_crosses_the_middle() -> None:
    s = CrossSectional(PRIMARY)
    flat = _signal(Direction.FLAT)
    assert s.decide(flat, _market(0.6), 1.0, POLICY) is None  # long, rank fell but above ½
    out = s.decide(flat, _market(0.4), 1.0, POLICY)
    assert out is not None and out.action is TradeAction.EXIT and out.side is Side.SELL
    assert s.decide(flat, _market(0.4), -1.0, POLICY) is None
    back = s.decide(flat, _market(0.6), -1.0, POLICY)
    assert back is not None and back.action is TradeAction.EXIT and back.side is Side.BUY
    assert s.decide(flat, _market(None), 1.0, POLICY) is None  # no cross-section: hold


def test_only_a_fixed_selector_names_it() -> None:
    ctx = SelectionContext("SOLUSDT", T0, None, None, 0.5, 0.3, 0.0, RiskMode.MODERATE)
    assert FixedSelector("CrossSectional").select(ctx).strategy == "CrossSectional"
    with pytest.raises(ValueError, match="xs_fraction"):
        CrossSectional(xs_fraction=0.6)


@pytest.mark.parametrize("p", [0.51, 0.55, 0.6, 0.7, 0.8, 0.9, 0.99])
def test_bet_size_is_two_phi_z_minus_one(p: float) -> None:
    z = (p - 0.5) / math.sqrt(p * (1 - p))
    assert bet_size(p) == pytest.approx(2 * norm.cdf(z) - 1, abs=1e-12)


def test_bet_size_bounds() -> None:
    assert bet_size(0.0) == bet_size(0.3) == bet_size(0.5) == 0.0
    assert bet_size(1.0) == 1.0
    sizes = [bet_size(p / 100) for p in range(50, 101)]
    assert sizes == sorted(sizes)  # more sure, never smaller
    with pytest.raises(ValueError, match="not in"):
        bet_size(1.2)


def test_win_probability_leaves_flat_out() -> None:
    s = _signal(Direction.UP, (0.1, 0.5, 0.4))
    assert win_probability(s, Side.BUY) == pytest.approx(0.8)
    assert win_probability(s, Side.SELL) == pytest.approx(0.2)
    assert win_probability(_signal(Direction.FLAT, (0.0, 1.0, 0.0)), Side.BUY) is None


def test_the_bet_sizer_scales_the_base_size() -> None:
    intent = TradeIntent(
        "SOLUSDT", T0, TradeAction.ENTRY, Side.BUY, 100.0, "T", "", 0.3, 98.0, 104.0
    )
    base = FixedFractionalSizer()
    full = base.size(SizingRequest(intent, 10_000.0, POLICY)).quantity
    sizer = BetSizer(base)
    for p in (0.5, 0.6, 0.9):
        sized = sizer.size(SizingRequest(intent, 10_000.0, POLICY, win_probability=p))
        assert sized.quantity == pytest.approx(full * bet_size(p))
        assert sized.sizer == "fixed_fractional×bet"
    unknown = sizer.size(SizingRequest(intent, 10_000.0, POLICY))
    assert unknown.quantity == full and "no win probability" in unknown.reason


def test_the_decision_asks_the_sizer_with_the_win_probability() -> None:
    from quantum_trader.decision.sizing_request import sizing_request
    from quantum_trader.portfolio.portfolio import Portfolio

    intent = TradeIntent(
        "SOLUSDT", T0, TradeAction.ENTRY, Side.SELL, 100.0, "T", "", 0.3, 102.0, 96.0
    )
    ctx = SelectionContext("SOLUSDT", T0, None, None, 0.5, 0.3, 0.0, RiskMode.MODERATE)
    account = Portfolio()
    signal = _signal(Direction.DOWN, (0.6, 0.1, 0.3))
    asked = sizing_request(intent, POLICY, account, ctx, _market(0.0), signal)
    assert asked.win_probability == pytest.approx(0.6 / 0.9)
    assert sizing_request(intent, POLICY, account, ctx, _market(0.0)).win_probability is None
