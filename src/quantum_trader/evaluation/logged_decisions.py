"""The selectors' decisions as off-policy records (``evaluation/offpolicy.py``).

Two sources: the PPO selector's :class:`PolicyDecision` (``agents/policy_selector.py``) and any
selector whose action probabilities are known before it draws (the Q-learner's
``QLearningSelector.probabilities``, asked for the same context just before ``select``).

**Which propensity.** A record's propensity must be the probability with which the logging
policy *took* its action. The served PPO selector is greedy: it takes the most probable
strategy, so the action it took had probability 1, whatever the network's probability for it
(which :class:`PolicyDecision` keeps as ``propensity``). ``greedy=True`` (the default, as it
serves today) logs 1; ``greedy=False`` is for a selector that samples from the network's
probabilities and logs the network's. The rule fallback and the HALTED mask are deterministic:
1 either way. A greedy log therefore supports only targets that agree with it (see the
limits in ``evaluation/offpolicy.py``): to judge other policies by IPS, the logging policy
must explore (the Q-learner's epsilon does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from quantum_trader.agents.policy_selector import POLICY, PolicyDecision
from quantum_trader.evaluation.offpolicy import FloatArray, LoggedDecision
from quantum_trader.strategy.selector import STRATEGY_NAMES


def from_policy_decision(
    decision: PolicyDecision,
    reward: float,
    features: Sequence[float] = (),
    *,
    actions: Sequence[str] = STRATEGY_NAMES,
    greedy: bool = True,
) -> LoggedDecision:
    """One :class:`PolicyDecision` and the reward it earned as a record (see the module
    docstring for the propensity); ``features``: what the reward model will read."""
    propensity = decision.propensity if (decision.decided_by == POLICY and not greedy) else 1.0
    return LoggedDecision(
        features=tuple(float(f) for f in features),
        action=_index(actions, decision.strategy, f"{decision.symbol}@{decision.time}"),
        propensity=propensity,
        reward=float(reward),
        policy_version=decision.policy_version,
    )


def logged_decisions(
    pairs: Iterable[tuple[PolicyDecision, float]],
    features: Iterable[Sequence[float]] | None = None,
    *,
    actions: Sequence[str] = STRATEGY_NAMES,
    greedy: bool = True,
) -> list[LoggedDecision]:
    """``(decision, reward)`` pairs, in order, as records; ``features`` one row per pair."""
    pairs = list(pairs)
    rows = [()] * len(pairs) if features is None else list(features)
    if len(rows) != len(pairs):
        raise ValueError(f"logged_decisions: {len(pairs)} decisions but {len(rows)} feature rows")
    return [
        from_policy_decision(d, r, f, actions=actions, greedy=greedy)
        for (d, r), f in zip(pairs, rows, strict=True)
    ]


def from_probabilities(
    strategy: str,
    probabilities: Mapping[str, float],
    reward: float,
    version: str,
    features: Sequence[float] = (),
    *,
    actions: Sequence[str] = STRATEGY_NAMES,
) -> LoggedDecision:
    """A decision of a selector that drew ``strategy`` from ``probabilities`` (e.g. the
    Q-learner's epsilon-greedy ones) as a record; its propensity is the strategy's probability."""
    unknown = sorted(set(probabilities) - set(actions))
    if unknown:
        raise ValueError(f"from_probabilities: strategies {unknown} not among {list(actions)}")
    if probabilities.get(strategy, 0.0) <= 0:
        raise ValueError(
            f"from_probabilities: {version} took {strategy} at probability "
            f"{probabilities.get(strategy, 0.0)}: the probabilities were not the ones it drew from"
        )
    return LoggedDecision(
        features=tuple(float(f) for f in features),
        action=_index(actions, strategy, version),
        propensity=float(probabilities.get(strategy, 0.0)),
        reward=float(reward),
        policy_version=version,
    )


def target_probabilities(
    decisions: Sequence[PolicyDecision],
    *,
    actions: Sequence[str] = STRATEGY_NAMES,
    greedy: bool = True,
) -> FloatArray:
    """A policy's decisions at the logged decisions' contexts (e.g. the PPO selector asked
    beside the logging selector) as the target's ``(n, K)`` probabilities: 1 on the strategy
    it chose when greedy or deterministic (fallback, mask), else the network's probabilities."""
    out = np.zeros((len(decisions), len(actions)))
    for row, decision in enumerate(decisions):
        if decision.decided_by == POLICY and not greedy:
            for name, p in zip(decision.actions, decision.probabilities, strict=True):
                out[row, _index(actions, name, decision.policy_version)] = p
        else:
            where = f"{decision.symbol}@{decision.time}"
            out[row, _index(actions, decision.strategy, where)] = 1.0
    return out


def _index(actions: Sequence[str], strategy: str, where: str) -> int:
    try:
        return list(actions).index(strategy)
    except ValueError:
        raise ValueError(f"{where}: strategy {strategy!r} is not among {list(actions)}") from None
