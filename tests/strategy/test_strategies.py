from __future__ import annotations

import pytest

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.market import Candle
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.signals import Direction, ModelVote, Signal
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import approved_intent
from quantum_trader.strategy import (
    FixedFractionalSizer,
    MarketState,
    MarketStateTracker,
    Regime,
    RegimeRuleSelector,
    SelectionContext,
    SizingRequest,
    TradeAction,
    TradeIntent,
    to_order_intent,
)
from quantum_trader.strategy.strategies import (
    Breakout,
    MeanReversion,
    Neutral,
    StrategyConfig,
    TrendFollowing,
    default_strategies,
)
from tests.risk.helpers import T0, engine, portfolio

POLICY = TradingPolicy()


def _signal(direction: Direction, confidence: float = 0.7, symbol: str = "BTCUSDT") -> Signal:
    vote = ModelVote("xgb", 0.2, 0.2, 0.6)
    return Signal(symbol, T0, direction, 0.6, confidence, (vote,))


def _market(**kw: object) -> MarketState:
    base: dict[str, object] = dict(
        symbol="BTCUSDT",
        time=T0,
        close=100.0,
        atr=1.0,
        channel_high=105.0,
        channel_low=95.0,
        mean=100.0,
        std=2.0,
        regime=Regime.BULL,
    )
    base.update(kw)
    return MarketState(**base)  # type: ignore[arg-type]


def test_trend_following_enters_with_the_trend_and_exits_on_reversal() -> None:
    s = TrendFollowing()
    entry = s.decide(_signal(Direction.UP), _market(), 0.0, POLICY)
    assert entry is not None and entry.action is TradeAction.ENTRY and entry.side is Side.BUY
    assert entry.stop_loss == pytest.approx(98.0) and entry.take_profit == pytest.approx(104.0)
    assert s.decide(_signal(Direction.DOWN), _market(), 0.0, POLICY) is None  # against BULL
    assert s.decide(_signal(Direction.UP, 0.02), _market(), 0.0, POLICY) is None  # weak signal
    assert s.decide(_signal(Direction.UP), _market(), 1.0, POLICY) is None  # hold, no pyramid
    out = s.decide(_signal(Direction.DOWN), _market(), 1.0, POLICY)
    assert out is not None and out.action is TradeAction.EXIT and out.side is Side.SELL
    short = s.decide(_signal(Direction.DOWN), _market(regime=Regime.BEAR), 0.0, POLICY)
    assert short is not None and short.side is Side.SELL and short.stop_loss == pytest.approx(102)


def test_mean_reversion_fades_stretch_and_targets_the_mean() -> None:
    s = MeanReversion()
    low = _market(close=95.0, regime=Regime.SIDEWAYS)  # z = -2.5
    entry = s.decide(_signal(Direction.FLAT), low, 0.0, POLICY)
    assert entry is not None and entry.side is Side.BUY and entry.take_profit == 100.0
    assert s.decide(_signal(Direction.DOWN), low, 0.0, POLICY) is None
    back = s.decide(_signal(Direction.FLAT), _market(close=100.5), 2.0, POLICY)
    assert back is not None and back.action is TradeAction.EXIT


def test_breakout_needs_channel_break_in_signal_direction() -> None:
    s = Breakout()
    up = s.decide(_signal(Direction.UP), _market(close=106.0), 0.0, POLICY)
    assert up is not None and up.side is Side.BUY
    assert s.decide(_signal(Direction.DOWN), _market(close=106.0), 0.0, POLICY) is None
    failed = s.decide(_signal(Direction.UP), _market(close=99.0), 1.0, POLICY)
    assert failed is not None and failed.action is TradeAction.EXIT


def test_neutral_never_enters_and_closes() -> None:
    s = Neutral()
    assert s.decide(_signal(Direction.UP, 0.99), _market(close=120.0), 0.0, POLICY) is None
    out = s.decide(_signal(Direction.UP), _market(), -3.0, POLICY)
    assert out is not None and out.side is Side.BUY and out.action is TradeAction.EXIT


def test_primary_rule_picks_the_side_without_the_signal() -> None:
    """Meta-labelling's primary decision (QT_ENTRY_RULE=primary): each strategy enters on its
    own rule whatever the ensemble says; the ensemble is left to the cost gate."""
    primary = StrategyConfig(entry_rule="primary")
    against = _signal(Direction.DOWN, 0.9)  # a confident signal against every entry below
    trend = TrendFollowing(primary).decide(against, _market(), 0.0, POLICY)
    assert trend is not None and trend.side is Side.BUY and trend.reason == "BULL regime"
    assert TrendFollowing().decide(against, _market(), 0.0, POLICY) is None  # the default
    weak = _signal(Direction.UP, 0.0)  # no confidence at all: the rule still decides
    assert TrendFollowing(primary).decide(weak, _market(regime=Regime.SIDEWAYS), 0, POLICY) is None
    short = TrendFollowing(primary).decide(weak, _market(regime=Regime.BEAR), 0.0, POLICY)
    assert short is not None and short.side is Side.SELL
    # exits follow the rule (and the stop and target), not the signal turning
    assert TrendFollowing(primary).decide(against, _market(), 1.0, POLICY) is None
    low = _market(close=95.0, regime=Regime.SIDEWAYS)  # z = -2.5: the rule buys
    fade = MeanReversion(primary).decide(against, low, 0.0, POLICY)
    assert fade is not None and fade.side is Side.BUY
    broke = Breakout(primary).decide(against, _market(close=106.0), 0.0, POLICY)
    assert broke is not None and broke.side is Side.BUY
    assert Breakout(primary).decide(against, _market(), 0.0, POLICY) is None  # in the channel
    assert Neutral(primary).decide(against, _market(close=120.0), 0.0, POLICY) is None
    with pytest.raises(ValueError, match="entry_rule"):
        StrategyConfig(entry_rule="both")  # type: ignore[arg-type]


def test_selector_rule_table() -> None:
    sel = RegimeRuleSelector()

    def pick(regime: Regime | None, mode: RiskMode = RiskMode.MODERATE) -> str:
        ctx = SelectionContext("BTCUSDT", T0, regime, None, 0.5, 0.6, 0.0, mode)
        return sel.select(ctx).strategy

    assert [
        pick(r) for r in (Regime.BULL, Regime.BEAR, Regime.SIDEWAYS, Regime.VOLATILE, None)
    ] == [
        "TrendFollowing",
        "TrendFollowing",
        "MeanReversion",
        "Breakout",
        "Neutral",
    ]
    assert pick(Regime.VOLATILE, RiskMode.CONSERVATIVE) == "Neutral"
    with pytest.raises(ValueError, match="unknown strategies"):
        RegimeRuleSelector(rules={**sel.rules, Regime.BULL: "Martingale"})
    assert set(default_strategies()) == {
        "TrendFollowing",
        "MeanReversion",
        "Breakout",
        "Neutral",
        "CrossSectional",
    }


def test_fixed_fractional_sizing_and_leverage_cap() -> None:
    intent = TradeIntent(
        "BTCUSDT", T0, TradeAction.ENTRY, Side.BUY, 100.0, "T", "", 0.6, 98.0, 104.0
    )
    sizer = FixedFractionalSizer()
    # 1% of 10k = 100 at risk / 2 per unit = 50 units (notional 5k, within 3× leverage)
    assert sizer.size(SizingRequest(intent, 10_000.0, POLICY)).quantity == pytest.approx(50.0)
    capped = sizer.size(SizingRequest(intent, 10_000.0, POLICY, gross_exposure=27_000.0))
    assert capped.quantity == pytest.approx(30.0) and "leverage" in capped.reason
    assert FixedFractionalSizer(0.5).size(SizingRequest(intent, 10_000.0, POLICY)).quantity == 25.0
    assert sizer.size(SizingRequest(intent, -1.0, POLICY)).quantity == 0.0


def test_market_state_tracker_channel_and_band() -> None:
    tr = MarketStateTracker("BTCUSDT")
    state = None
    for k in range(30):
        c = 100.0 + (k % 5)
        state = tr.update(Candle("BTCUSDT", "1h", k * MS_PER_HOUR, c, c + 1, c - 1, c, 1.0))
    assert state is not None and tr.ready
    assert state.channel_high == 105.0 and state.channel_low == 99.0
    assert state.atr > 0 and state.std > 0
    assert state.time == 30 * MS_PER_HOUR


def test_signal_to_order_through_sizing_and_risk() -> None:
    """The whole path of one decision: strategy → sizer → order intent → risk engine."""
    clock = SimulatedClock(T0)
    pf = portfolio()
    market = _market(close=50_000.0, channel_high=51_000.0, channel_low=49_000.0, mean=50_000.0)
    intent = TrendFollowing().decide(_signal(Direction.UP), market, 0.0, POLICY)
    assert intent is not None
    sized = FixedFractionalSizer().size(SizingRequest(intent, pf.equity(), POLICY))
    order = to_order_intent(intent, sized.quantity, POLICY)
    decision = engine(pf, clock).evaluate(order)
    assert decision.outcome is Outcome.APPROVED, decision.reasons
    sent = approved_intent(decision)
    assert sent is not None and sent.stop_loss == pytest.approx(49_000.0)
