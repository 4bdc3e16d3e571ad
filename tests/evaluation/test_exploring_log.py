"""The exploring selector's log and its off-policy report (``evaluation/exploring_log.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.market import Regime
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.positions import Trade
from quantum_trader.evaluation.exploring_log import ExploringLog
from quantum_trader.evaluation.offpolicy import BootstrapSettings
from quantum_trader.strategy.selector import (
    BREAKOUT,
    MEAN_REVERSION,
    NEUTRAL,
    STRATEGY_NAMES,
    TREND_FOLLOWING,
    SelectionContext,
    StrategyChoice,
)

H = 3_600_000
#: what each strategy's trade returns per regime (Neutral opens nothing: 0)
MEANS = {
    (Regime.BULL, TREND_FOLLOWING): 0.010,
    (Regime.BEAR, TREND_FOLLOWING): -0.010,
    (Regime.BULL, BREAKOUT): 0.002,
    (Regime.BEAR, BREAKOUT): 0.002,
    (Regime.BULL, MEAN_REVERSION): -0.001,
    (Regime.BEAR, MEAN_REVERSION): -0.001,
}


class EpsilonGreedy:
    """Draws MeanReversion at 1 - eps + eps/4, each other strategy at eps/4; holds a symbol's
    strategy while told to."""

    name = "eps"

    def __init__(self, eps: float, seed: int) -> None:
        self.eps = eps
        self.rng = np.random.default_rng(seed)
        self.held: dict[str, str] = {}

    def probabilities(self, context: SelectionContext) -> dict[str, float]:
        k = len(STRATEGY_NAMES)
        return {s: self.eps / k + (1 - self.eps) * (s == MEAN_REVERSION) for s in STRATEGY_NAMES}

    def holding(self, symbol: str) -> str | None:
        return self.held.get(symbol)

    def select(self, context: SelectionContext) -> StrategyChoice:
        if context.symbol in self.held:
            return StrategyChoice(self.held[context.symbol], "holding", self.name)
        probs = self.probabilities(context)
        strategy = str(self.rng.choice(STRATEGY_NAMES, p=[probs[s] for s in STRATEGY_NAMES]))
        return StrategyChoice(strategy, "drawn", self.name)


def context(t: int, regime: Regime = Regime.BULL, symbol: str = "BTCUSDT") -> SelectionContext:
    return SelectionContext(symbol, t * H, regime, None, 0.5, 0.1, 0.0, RiskMode.MODERATE)


def trade(symbol: str, at: int, strategy: str, ret: float, selector: str = "eps") -> Trade:
    """A long of 1 at 1,000 opened by the decision ``symbol@at`` returning ``ret`` net."""
    ref = DecisionRef(f"{symbol}@{at}", strategy, selector, "fixed_fractional")
    return Trade(f"T-{symbol}@{at}", symbol, Side.BUY, 1.0, 1000.0, 1000.0 * (1 + ret), at + 1,
                 at + H, 1000.0 * ret, 0.0, strategy=strategy, decision=ref)  # fmt: skip


def trend_in_bull(c: SelectionContext) -> str:
    return TREND_FOLLOWING if c.regime is Regime.BULL else NEUTRAL


def test_the_estimates_find_a_targets_known_value_from_an_exploring_log() -> None:
    """A simulated bandit whose rewards are known per regime and strategy: the target that
    trades TrendFollowing in BULL and stays out in BEAR earns 0.005 per choice in truth; the
    logging selector (mostly MeanReversion) earns far less. IPS, SNIPS and DR cover the truth;
    the report tells the target apart from the logger."""
    rng = np.random.default_rng(7)
    selector = EpsilonGreedy(0.3, seed=1)
    log = ExploringLog(selector, encoder=lambda c: [float(c.regime is Regime.BULL)])
    log.add_target("trend_in_bull", trend_in_bull)
    log.add_target("always_neutral", lambda c: NEUTRAL)
    trades = []
    for t in range(6000):
        c = context(t, Regime.BULL if (t // 24) % 2 == 0 else Regime.BEAR)
        strategy = log.select(c).strategy
        if strategy != NEUTRAL:
            noise = float(rng.normal(0.0, 0.01))
            assert c.regime is not None
            trades.append(trade(c.symbol, c.time, strategy, MEANS[(c.regime, strategy)] + noise))
    report = log.report(trades, BootstrapSettings(samples=400, block=24, seed=3))

    assert report.choices == 6000 and report.opened == len(trades)
    assert report.logging_mean == pytest.approx(sum(t.net_pnl / 1000.0 for t in trades) / 6000)
    assert report.logging_mean < 0.0  # MeanReversion loses a little, mostly
    estimates = {t.name: t for t in report.targets}
    target = estimates["trend_in_bull"]
    for estimate in (target.ips, target.snips, target.dr):
        assert estimate is not None
        assert estimate.low <= 0.005 <= estimate.high, estimate
        assert estimate.low > report.logging_mean
    assert 0.03 < target.agreement < 0.3  # it agrees when the logger explores or both idle
    assert target.ips.effective_sample_size < 0.3 * report.choices
    neutral = estimates["always_neutral"]
    assert neutral.ips.value == 0.0 and neutral.dr is not None and abs(neutral.dr.value) < 1e-3
    assert "trend_in_bull IPS +" in report.summary() and "6000 choices of eps" in report.summary()


def test_a_held_position_is_no_choice_and_a_repeated_question_keeps_the_last_answer() -> None:
    selector = EpsilonGreedy(1.0, seed=2)
    log = ExploringLog(selector, encoder=lambda c: [0.0])
    log.add_target("neutral", lambda c: NEUTRAL)
    log.select(context(1))
    log.select(context(1))  # asked again for the same decision
    selector.held["BTCUSDT"] = BREAKOUT
    assert log.select(context(2)).strategy == BREAKOUT
    del selector.held["BTCUSDT"]
    log.select(context(3))
    log.select(context(3, symbol="ETHUSDT"))
    rows = log.rows
    assert [(r.symbol, r.time // H) for r in rows] == [
        ("BTCUSDT", 1), ("BTCUSDT", 3), ("ETHUSDT", 3)
    ]  # fmt: skip
    assert all(r.propensity == pytest.approx(0.25) and r.targets == (NEUTRAL,) for r in rows)


def test_rewards_come_from_the_trades_the_choices_opened_and_only_the_loggers() -> None:
    selector = EpsilonGreedy(1.0, seed=4)
    log = ExploringLog(selector, encoder=lambda c: [0.0])
    chosen = [log.select(context(t)).strategy for t in range(4)]
    trades = [
        trade("BTCUSDT", 0, chosen[0], 0.02),
        trade("BTCUSDT", 2 * H, chosen[2], -0.01),
        trade("BTCUSDT", 3 * H, chosen[3], 0.5, selector="someone_else"),  # not the logger's
    ]
    report = log.report(trades, BootstrapSettings(samples=50))
    assert report.opened == 2
    assert report.logging_mean == pytest.approx((0.02 - 0.01) / 4)
    assert report.targets == ()  # no target asked: the logger's own mean only

    bad = trade("BTCUSDT", H, chosen[1], 0.01)
    bad = Trade(bad.trade_id, bad.symbol, bad.side, bad.quantity, bad.entry_price,
                bad.exit_price, bad.entry_time, bad.exit_time, bad.pnl, bad.fees,
                strategy=bad.strategy,
                decision=DecisionRef("BTCUSDT-at-1", chosen[1], "eps", "fixed_fractional"),
                )  # fmt: skip
    with pytest.raises(ValueError, match="is not '<symbol>@<time>'"):
        log.report([bad], BootstrapSettings(samples=50))


def test_targets_are_fixed_before_the_first_choice_and_must_answer_a_strategy() -> None:
    log = ExploringLog(EpsilonGreedy(0.1, seed=5), encoder=lambda c: [0.0])
    log.add_target("odd", lambda c: "Scalping")
    with pytest.raises(ValueError, match="already there"):
        log.add_target("odd", lambda c: NEUTRAL)
    with pytest.raises(ValueError, match=r"target 'odd' chose 'Scalping' at BTCUSDT@3600000"):
        log.select(context(1))
    fine = ExploringLog(EpsilonGreedy(0.1, seed=5), encoder=lambda c: [0.0])
    fine.select(context(1))
    with pytest.raises(ValueError, match="added after 1 rows"):
        fine.add_target("late", lambda c: NEUTRAL)
