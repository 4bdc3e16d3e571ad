"""The Q-learning selector (module 14): its held-out learnability over many seeds, and the cost
of one decision.

Runs the learnability test's harness (``tests/agents/strategy_loop.py``: the real strategies on
synthetic regimes whose best strategy is known by construction; imported from the tests so that
the bench measures exactly what they check) for ``--seeds`` pairs of a training seed and a
held-out seed that neither the test nor the tuning used (training 10 + k, held-out 1000 + k):
per pair the share of held-out decisions that pick the regime's best strategy, then their
distribution. ``--latency`` times ``select`` and ``observe`` on a trained table.

    PYTHONPATH=src:. .venv/bin/python bench/bench_qlearning.py --seeds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.agents import strategy_loop as loop
from tests.agents.test_qlearning_learnability import shares

from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
from quantum_trader.domain.market import Regime
from quantum_trader.domain.policy import RiskMode
from quantum_trader.strategy.selector import RegimeRuleSelector, SelectionContext


def train(seed: int, candles: int) -> QLearningSelector:
    learner = QLearningSelector(QLearningConfig(), seed=seed)
    loop.run(loop.market(seed, candles), learner, learner.observe, on_open=learner.hold,
             seed=seed)  # fmt: skip
    return learner


def learnability(pairs: int, train_candles: int, held_out_candles: int) -> None:
    found, rules = [], []
    for k in range(pairs):
        started = time.perf_counter()
        frozen = train(10 + k, train_candles).frozen()
        held_out = loop.market(1000 + k, held_out_candles)
        result = loop.run(held_out, frozen, frozen.observe, on_open=frozen.hold, seed=1000 + k)
        share, per = shares(result)
        rule = shares(loop.run(held_out, RegimeRuleSelector(), seed=1000 + k))[0]
        found.append(share)
        rules.append(rule)
        cells = " ".join(f"{r} {v:.0%}" for r, v in per.items())
        print(f"train {10 + k:>3} held-out {1000 + k}: {share:.1%} ({cells}); rules {rule:.1%}; "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    q = statistics.quantiles(found, n=4) if len(found) > 1 else [found[0]] * 3
    print(f"Q-learner share over {pairs} seed pairs: mean {statistics.fmean(found):.1%}, min "
          f"{min(found):.1%}, quartiles {q[0]:.1%} / {q[1]:.1%} / {q[2]:.1%}, max {max(found):.1%}; "
          f">= 70 % in {sum(s >= 0.70 for s in found)} of {pairs}; rule selector mean "
          f"{statistics.fmean(rules):.1%}")  # fmt: skip


def latency(calls: int) -> None:
    learner = train(10, 6_000)
    regimes = [*Regime, None]
    contexts = [
        SelectionContext(
            f"S{i % 8}",
            i,
            regimes[i % 5],
            None,
            (i % 97) / 97,
            (i % 31) / 100,
            (i % 7) - 3.0,
            RiskMode.MODERATE,
        )
        for i in range(calls)
    ]
    times = []
    for context in contexts:
        started = time.perf_counter_ns()
        learner.select(context)
        times.append(time.perf_counter_ns() - started)
    times.sort()
    p50, p99 = times[len(times) // 2] / 1e3, times[int(len(times) * 0.99)] / 1e3
    print(f"select: p50 {p50:.1f} µs, p99 {p99:.1f} µs over {calls} calls "
          f"({len(learner.table)} cells)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--train-candles", type=int, default=24_000)
    parser.add_argument("--held-out-candles", type=int, default=4_000)
    parser.add_argument("--latency", type=int, default=100_000, help="select calls to time")
    args = parser.parse_args()
    learnability(args.seeds, args.train_candles, args.held_out_candles)
    latency(args.latency)


if __name__ == "__main__":
    main()
