"""The selectors' decisions as off-policy records, and an estimate from the Q-learner's own log."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.agents.policy_selector import FALLBACK, MASK, POLICY, PolicyDecision
from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
from quantum_trader.domain.market import Regime
from quantum_trader.domain.policy import RiskMode
from quantum_trader.evaluation.logged_decisions import (
    from_policy_decision,
    from_probabilities,
    logged_decisions,
    target_probabilities,
)
from quantum_trader.evaluation.offpolicy import BootstrapSettings, DecisionLog, ips, snips
from quantum_trader.strategy.selector import STRATEGY_NAMES, SelectionContext

ACTIONS = ("TrendFollowing", "MeanReversion", "Breakout", "Neutral")


def network(strategy: str, p: float, *, probs: tuple[float, ...]) -> PolicyDecision:
    return PolicyDecision("BTCUSDT", 1, strategy, p, "ppo-v3", POLICY, "", ACTIONS, probs)


def test_a_greedy_policys_decision_has_propensity_one_a_sampled_ones_the_networks() -> None:
    decision = network("Breakout", 0.6, probs=(0.1, 0.2, 0.6, 0.1))
    greedy = from_policy_decision(decision, 0.5, (1.0, 2.0))
    sampled = from_policy_decision(decision, 0.5, (1.0, 2.0), greedy=False)
    assert greedy.propensity == 1.0 and sampled.propensity == 0.6
    assert greedy.action == STRATEGY_NAMES.index("Breakout") and greedy.features == (1.0, 2.0)
    assert greedy.policy_version == "ppo-v3" and greedy.reward == 0.5


def test_fallback_and_mask_decisions_are_deterministic() -> None:
    rules = PolicyDecision("ETHUSDT", 2, "MeanReversion", 1.0, "regime_rules", FALLBACK, "r")
    halted = PolicyDecision("ETHUSDT", 3, "Neutral", 1.0, "ppo-v3", MASK, "HALTED")
    records = logged_decisions([(rules, -0.2), (halted, 0.0)], greedy=False)
    assert [r.propensity for r in records] == [1.0, 1.0]
    assert [r.policy_version for r in records] == ["regime_rules", "ppo-v3"]
    log = DecisionLog.of(records, len(STRATEGY_NAMES))
    assert log.logging_mean() == pytest.approx(-0.1)


def test_target_probabilities_of_decisions() -> None:
    decisions = [
        network("MeanReversion", 0.7, probs=(0.1, 0.7, 0.1, 0.1)),
        PolicyDecision("BTCUSDT", 2, "Neutral", 1.0, "ppo-v3", MASK, "HALTED"),
    ]
    greedy = target_probabilities(decisions)
    assert greedy.tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    sampled = target_probabilities(decisions, greedy=False)
    assert sampled[0].tolist() == [0.1, 0.7, 0.1, 0.1] and sampled[1, 3] == 1.0


def test_unknown_strategies_and_mismatches_are_refused() -> None:
    odd = PolicyDecision("BTCUSDT", 9, "Momentum", 1.0, "x", FALLBACK, "")
    with pytest.raises(ValueError, match=r"BTCUSDT@9: strategy 'Momentum' is not among"):
        from_policy_decision(odd, 0.0)
    with pytest.raises(ValueError, match="2 decisions but 1 feature rows"):
        logged_decisions([(odd, 0.0), (odd, 0.0)], features=[(1.0,)])
    with pytest.raises(ValueError, match=r"strategies \['Momentum'\] not among"):
        from_probabilities("Neutral", {"Momentum": 1.0}, 0.0, "q")
    with pytest.raises(ValueError, match="took Breakout at probability 0"):
        from_probabilities("Breakout", {"Neutral": 1.0}, 0.0, "q")


def test_the_q_learners_log_estimates_another_policy() -> None:
    """The Q-learner's epsilon-greedy propensities are the ones it draws from: from its log,
    IPS recovers a uniform policy's value (known here) although the learner mostly picks one
    strategy."""
    selector = QLearningSelector(QLearningConfig(epsilon_start=0.4, epsilon_end=0.4), seed=5)
    mean = {"TrendFollowing": 1.0, "MeanReversion": -1.0, "Breakout": 0.5, "Neutral": 0.0}
    rng = np.random.default_rng(0)
    records = []
    for t in range(3000):
        context = SelectionContext(
            "BTCUSDT", t, Regime.BULL, None, 0.5, 0.1, 0.0, RiskMode.MODERATE
        )
        if t == 0:
            selector.update(selector.state_of(context).key, "TrendFollowing", 0.01)
        probabilities = selector.probabilities(context)
        strategy = selector.select(context).strategy
        reward = mean[strategy] + rng.standard_normal()
        records.append(from_probabilities(strategy, probabilities, reward, "qlearning"))
    log = DecisionLog.of(records, len(STRATEGY_NAMES))
    assert {round(r.propensity, 3) for r in records} == {0.1, 0.7}
    uniform = np.full((len(log), len(STRATEGY_NAMES)), 0.25)
    truth = sum(mean.values()) / 4
    settings = BootstrapSettings(samples=500)
    for estimate in (
        ips(log, uniform, bootstrap=settings),
        snips(log, uniform, bootstrap=settings),
    ):
        assert estimate.low <= truth <= estimate.high, estimate
    assert abs(log.logging_mean() - truth) > 0.3  # the learner's own mean is far from it
