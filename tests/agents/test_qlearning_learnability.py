"""Learnability (issue 18, acceptance): on a held-out synthetic run the Q-learner picks the best
strategy in at least 70 % of decisions.

The markets (``strategy_loop.REGIMES``) are built so that each regime's best strategy is known
by construction:

* **BULL** (drift +0.15 %/h, mild momentum): TrendFollowing is long whenever the forecast is UP
  in a BULL regime — nearly always — and collects the drift; Breakout waits for a channel break
  and MeanReversion sells stretches against the drift;
* **BEAR** (a driftless, uncorrelated random walk): a martingale — every rule's expected gross
  PnL is zero, so fees make every strategy lose and Neutral (no trade) is best;
* **SIDEWAYS** (no drift, returns autocorrelated -0.7): moves partly revert, which is what
  MeanReversion sells; breakouts fail; TrendFollowing never enters outside BULL/BEAR;
* **VOLATILE** (no drift, autocorrelation +0.45): moves extend, which is what Breakout buys;
  TrendFollowing never enters there.

The first test confirms this by measurement: each real strategy alone through the loop on a
long run of its own seed, its net return summed per regime (Neutral: 0). The second trains the
learner on a training run, freezes it (ε = 0, no learning) and counts, on a held-out run of
another seed, the share of its decisions (every candle of every symbol after warm-up, holding
decisions included) that name the regime's best strategy.

The loop (``strategy_loop.py``) is the decision path's logic over the real strategy classes
with a stand-in signal, the true regime, fixed notional and no risk engine; its docstring says
exactly what it skips. Measured here (2 shared cores, other engineers' jobs running): see the
printed figures (``pytest -s``).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
from quantum_trader.strategy.selector import (
    NEUTRAL,
    STRATEGY_NAMES,
    FixedSelector,
    RandomSelector,
    RegimeRuleSelector,
    StrategySelector,
)
from tests.agents import strategy_loop as loop

MEASURE_SEED, TRAIN_SEED, HELD_OUT_SEED = 100, 1, 2


def shares(result: loop.LoopResult) -> tuple[float, dict[str, float]]:
    """The share of decisions naming the regime's best strategy, overall and per regime."""
    hits: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for regime, choice in result.decisions:
        seen[regime] += 1
        hits[regime] += choice == loop.BEST[regime]
    per = {r: hits[r] / seen[r] for r in sorted(seen)}
    return sum(hits.values()) / sum(seen.values()), per


def test_the_best_strategy_of_each_regime_is_confirmed_by_measurement() -> None:
    series = loop.market(MEASURE_SEED, 12_000)
    net: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STRATEGY_NAMES, 0.0))
    trades: Counter[tuple[str, str]] = Counter()
    for strategy in STRATEGY_NAMES:
        for regime, trade in loop.run(series, FixedSelector(strategy), seed=MEASURE_SEED).trades:
            net[regime][strategy] += trade.net_pnl / (trade.quantity * trade.entry_price)
            trades[(regime, strategy)] += 1
    assert all(trades[(r, NEUTRAL)] == 0 for r in loop.BEST)  # Neutral never trades: 0
    for regime in sorted(loop.BEST):
        row = net[regime]
        print(regime, {s: f"{v:+.2f} ({trades[(regime, s)]})" for s, v in row.items()})
        assert max(row, key=lambda s: row[s]) == loop.BEST[regime], (regime, row)
    assert all(v < 0 for s, v in net["BEAR"].items() if s != NEUTRAL)  # built to lose


def test_the_q_learner_picks_the_best_strategy_in_at_least_70_percent_of_held_out_decisions() -> (
    None
):
    learner = QLearningSelector(QLearningConfig(), seed=TRAIN_SEED)
    loop.run(loop.market(TRAIN_SEED, 24_000), learner, learner.observe, on_open=learner.hold,
             seed=TRAIN_SEED)  # fmt: skip
    assert learner.trades_learnt > 1_000 and learner.epsilon == 0.02
    frozen = learner.frozen()
    held_out = loop.market(HELD_OUT_SEED, 4_000)
    result = loop.run(held_out, frozen, frozen.observe, on_open=frozen.hold, seed=HELD_OUT_SEED)
    assert frozen.updates == learner.updates  # the frozen copy learnt nothing on held-out data
    share, per_regime = shares(result)

    def baseline(selector: StrategySelector) -> float:
        return shares(loop.run(held_out, selector, seed=HELD_OUT_SEED))[0]

    print(
        f"Q-learner: {share:.1%} of {len(result.decisions)} held-out decisions pick the best "
        f"strategy; per regime { ({r: f'{v:.0%}' for r, v in per_regime.items()}) }; trained on "
        f"{learner.trades_learnt} trades ({learner.updates} updates, {len(learner.table)} "
        f"cells); rule selector {baseline(RegimeRuleSelector()):.1%}, random "
        f"{baseline(RandomSelector(seed=HELD_OUT_SEED)):.1%}"
    )
    assert share >= 0.70
