"""Off-policy estimates on a synthetic contextual bandit whose true values are known exactly.

The bandit: 6 discrete contexts drawn with known probabilities, 4 actions, a known mean reward
per (context, action) plus Gaussian noise (sd 1). The logging policy is a softmax over a fixed
score table (every action keeps at least ~4 %); the target another softmax. The true value of
a policy is sum_s P(s) sum_a pi(a | s) mu(s, a), computed exactly. Features: the context's one
hot, so the cross-fitted ridge is a good reward model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.evaluation.offpolicy import (
    BootstrapSettings,
    DecisionLog,
    LoggedDecision,
    OffPolicyEstimate,
    doubly_robust,
    importance_weights,
    ips,
    one_hot_policy,
    snips,
)
from quantum_trader.evaluation.reward_model import cross_fitted_rewards

CONTEXTS, ACTIONS = 6, 4
P_CONTEXT = np.array([0.25, 0.2, 0.2, 0.15, 0.1, 0.1])
MEAN_REWARD = np.array(
    [
        [1.0, 0.2, -0.5, 0.0],
        [-0.3, 0.8, 0.1, 0.0],
        [0.0, -0.6, 1.2, 0.0],
        [0.5, 0.5, -1.0, 0.0],
        [-1.0, 0.3, 0.6, 0.0],
        [0.2, -0.2, 0.4, 0.0],
    ]
)
NOISE = 1.0
REPETITIONS = 200
DECISIONS = 600
FAST = BootstrapSettings(samples=400)


def softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return probabilities


LOGGING = softmax(np.array([[0.5, 0.0, -0.5, 1.0], [0.0, 0.3, 0.3, 0.0], [1.0, 1.0, -1.0, 0.0],
                            [0.0, 0.0, 0.0, 0.0], [0.5, -0.5, 0.0, 0.2], [-1.0, 0.0, 1.0, 0.0]]))  # fmt: skip
TARGET = softmax(2.0 * MEAN_REWARD)  # a better policy than the logging one


def true_value(policy: np.ndarray) -> float:
    return float(P_CONTEXT @ (policy * MEAN_REWARD).sum(axis=1))


def bandit_log(
    seed: int, n: int = DECISIONS, noise: float = NOISE
) -> tuple[DecisionLog, np.ndarray]:
    """A log of ``n`` decisions of the logging policy, and the contexts drawn."""
    rng = np.random.default_rng(seed)
    contexts = rng.choice(CONTEXTS, size=n, p=P_CONTEXT)
    u = rng.random(n)
    actions = (u[:, None] > np.cumsum(LOGGING[contexts], axis=1)).sum(axis=1)
    rewards = MEAN_REWARD[contexts, actions] + noise * rng.standard_normal(n)
    log = DecisionLog(
        features=np.eye(CONTEXTS)[contexts],
        actions=actions.astype(np.int64),
        propensities=LOGGING[contexts, actions],
        rewards=rewards,
        versions=("logging-v1",) * n,
        n_actions=ACTIONS,
    )
    return log, contexts


def all_estimates(seed: int) -> dict[str, OffPolicyEstimate]:
    log, contexts = bandit_log(seed)
    target = TARGET[contexts]
    settings = BootstrapSettings(samples=400, seed=seed)
    return {
        "ips": ips(log, target, bootstrap=settings),
        "snips": snips(log, target, bootstrap=settings),
        "dr": doubly_robust(log, target, cross_fitted_rewards(log), bootstrap=settings),
    }


@pytest.fixture(scope="module")
def repeated() -> dict[str, list[OffPolicyEstimate]]:
    out: dict[str, list[OffPolicyEstimate]] = {"ips": [], "snips": [], "dr": []}
    for seed in range(REPETITIONS):
        for method, estimate in all_estimates(seed).items():
            out[method].append(estimate)
    return out


def test_the_truth_differs_between_the_policies() -> None:
    """The setting is not trivial: target and logging policies earn clearly different means."""
    assert true_value(TARGET) - true_value(LOGGING) > 0.3


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_95_percent_intervals_cover_the_true_value_near_nominally(
    repeated: dict[str, list[OffPolicyEstimate]], method: str
) -> None:
    truth = true_value(TARGET)
    coverage = np.mean([e.low <= truth <= e.high for e in repeated[method]])
    # nominal 0.95; 200 repetitions give a standard error of 0.015
    assert 0.88 <= coverage <= 0.99, f"{method}: coverage {coverage:.3f}"


def test_ips_is_unbiased_on_average(repeated: dict[str, list[OffPolicyEstimate]]) -> None:
    values = np.array([e.value for e in repeated["ips"]])
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - true_value(TARGET)) < 3 * standard_error


def test_dr_with_a_good_reward_model_varies_less_than_ips(
    repeated: dict[str, list[OffPolicyEstimate]],
) -> None:
    """With noise sd 1 the model removes the spread of the means only (about 0.6 of IPS's
    variance remains); with noise sd 0.2 DR's variance falls to a small part of IPS's."""
    ips_var = np.var([e.value for e in repeated["ips"]])
    dr_var = np.var([e.value for e in repeated["dr"]])
    assert dr_var < ips_var, (dr_var, ips_var)
    widths = {m: np.median([e.high - e.low for e in repeated[m]]) for m in ("ips", "dr")}
    assert widths["dr"] < widths["ips"]
    quiet: dict[str, list[float]] = {"ips": [], "dr": []}
    for seed in range(REPETITIONS):
        log, contexts = bandit_log(seed, noise=0.2)
        target, few = TARGET[contexts], BootstrapSettings(samples=10)
        quiet["ips"].append(ips(log, target, bootstrap=few).value)
        quiet["dr"].append(
            doubly_robust(log, target, cross_fitted_rewards(log), bootstrap=few).value
        )
    assert np.var(quiet["dr"]) < 0.25 * np.var(quiet["ips"]), {
        k: np.var(v) for k, v in quiet.items()
    }


def test_misreported_propensities_break_the_coverage() -> None:
    """The coverage test can fail: with the target's probabilities logged as the propensities
    (every weight 1), IPS estimates the logging policy's value and misses the truth."""
    truth = true_value(TARGET)
    covered = []
    for seed in range(40):
        log, contexts = bandit_log(seed)
        misreported = TARGET[contexts, log.actions]
        wrong = DecisionLog(log.features, log.actions, misreported, log.rewards, log.versions,
                            ACTIONS)  # fmt: skip
        e = ips(wrong, TARGET[contexts], bootstrap=BootstrapSettings(samples=200, seed=seed))
        covered.append(e.low <= truth <= e.high)
    assert np.mean(covered) < 0.2


def test_on_policy_data_gives_the_sample_mean() -> None:
    log, contexts = bandit_log(7)
    on_policy = LOGGING[contexts]
    for estimate in (ips(log, on_policy, bootstrap=FAST), snips(log, on_policy, bootstrap=FAST)):
        assert estimate.value == pytest.approx(log.logging_mean(), rel=1e-12, abs=1e-12)
        assert estimate.effective_sample_size == pytest.approx(len(log))
        assert estimate.max_weight == pytest.approx(1.0)
    dr = doubly_robust(log, on_policy, cross_fitted_rewards(log), bootstrap=FAST)
    assert dr.value == pytest.approx(log.logging_mean(), abs=0.05)  # model terms cancel on average


def test_a_deterministic_target_and_its_effective_sample_size() -> None:
    log, contexts = bandit_log(3, n=4000)
    best = one_hot_policy(MEAN_REWARD.argmax(axis=1)[contexts], ACTIONS)
    estimate = doubly_robust(log, best, cross_fitted_rewards(log), bootstrap=FAST)
    assert estimate.low <= true_value(np.eye(ACTIONS)[MEAN_REWARD.argmax(axis=1)]) <= estimate.high
    # only the decisions that took the target's action count: ESS ~ n * (share agreeing)
    assert 0.1 * len(log) < estimate.effective_sample_size < 0.6 * len(log)


def test_clipping_caps_the_weights_and_counts_them() -> None:
    log, contexts = bandit_log(5)
    weights, clipped = importance_weights(log, TARGET[contexts])
    capped, count = importance_weights(log, TARGET[contexts], clip=2.0)
    assert clipped == 0 and count == int((weights > 2.0).sum()) > 0
    assert capped.max() == 2.0
    estimate = ips(log, TARGET[contexts], clip=2.0, bootstrap=FAST)
    assert estimate.clipped == count and estimate.max_weight == 2.0
    with pytest.raises(ValueError, match="clip=0"):
        importance_weights(log, TARGET[contexts], clip=0.0)


def test_block_bootstrap_widens_the_interval_of_serially_correlated_rewards() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    level = np.repeat(rng.standard_normal(n // 50), 50)  # rewards in runs of 50 decisions
    log = DecisionLog(np.zeros((n, 0)), np.zeros(n, dtype=np.int64), np.ones(n),
                      level + 0.1 * rng.standard_normal(n), ("v",) * n, 1)  # fmt: skip
    target = np.ones((n, 1))
    iid = ips(log, target, bootstrap=BootstrapSettings(samples=400))
    blocked = ips(log, target, bootstrap=BootstrapSettings(samples=400, block=50))
    assert blocked.high - blocked.low > 3 * (iid.high - iid.low)


def test_cross_fitting_never_predicts_a_row_from_itself() -> None:
    """A single decision per context is unpredictable from the other rows: its prediction is
    not its own reward (an in-sample fit with no penalty would return it)."""
    n = 10
    log = DecisionLog(np.eye(n), np.zeros(n, dtype=np.int64), np.ones(n),
                      np.arange(n, dtype=np.float64), ("v",) * n, 1)  # fmt: skip
    q = cross_fitted_rewards(log, folds=n, ridge=1e-9)
    assert not np.isclose(q[:, 0], log.rewards).any()


def test_records_become_a_log() -> None:
    records = [
        LoggedDecision((0.1, 0.2), 1, 0.5, 0.3, "v1"),
        LoggedDecision((0.0, 1.0), 0, 1.0, -0.1, "v2"),
    ]
    log = DecisionLog.of(records, 3)
    assert log.features.shape == (2, 2) and log.actions.tolist() == [1, 0]
    assert log.versions == ("v1", "v2") and log.logging_mean() == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"propensity": 0.0}, r"decision 1: propensity 0.0 is outside \(0, 1\]"),
        ({"propensity": 1.5}, r"decision 1: propensity 1.5 is outside"),
        ({"propensity": math.nan}, "decision 1: propensity nan is not finite"),
        ({"reward": math.inf}, "decision 1: reward inf is not finite"),
        ({"action": 3}, r"decision 1: action 3 outside 0..2"),
        ({"action": -1}, r"decision 1: action -1 outside"),
        ({"features": (math.nan, 0.0)}, "decision 1: features .* hold a non-finite value"),
        ({"features": (1.0,)}, "decision 1 has 1 features, decision 0 has 2"),
    ],
)
def test_bad_records_are_refused_naming_the_decision(
    change: dict[str, object], message: str
) -> None:
    good = {
        "features": (0.0, 1.0),
        "action": 0,
        "propensity": 0.5,
        "reward": 0.0,
        "policy_version": "v",
    }
    records = [LoggedDecision(**good), LoggedDecision(**(good | change)), LoggedDecision(**good)]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        DecisionLog.of(records, 3)


def test_bad_targets_and_predictions_are_refused() -> None:
    log, contexts = bandit_log(1, n=20)
    target = TARGET[contexts].copy()
    with pytest.raises(ValueError, match=r"shape \(19, 4\), expected \(20, 4\)"):
        ips(log, target[:-1])
    bad = target.copy()
    bad[4] = [0.5, 0.5, 0.5, -0.5]
    with pytest.raises(ValueError, match=r"decision 4: target probabilities .* include a negative"):
        ips(log, bad)
    bad[4] = [0.5, 0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match=r"decision 4: target probabilities .* do not sum to 1"):
        snips(log, bad)
    bad[4] = [math.nan, 0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match=r"decision 4: target probabilities .* not all finite"):
        ips(log, bad)
    q = np.zeros((20, 4))
    q[2, 1] = math.inf
    with pytest.raises(ValueError, match=r"decision 2: predicted rewards .* not all finite"):
        doubly_robust(log, target, q)
    with pytest.raises(ValueError, match=r"predicted rewards: shape \(20, 3\)"):
        doubly_robust(log, target, np.zeros((20, 3)))
    with pytest.raises(ValueError, match="every importance weight is 0"):
        snips(log, one_hot_policy((log.actions + 1) % ACTIONS, ACTIONS))


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"3 actions but \{'rewards': 2\}"):
        DecisionLog(np.zeros((3, 0)), np.zeros(3, dtype=np.int64), np.ones(3), np.zeros(2),
                    ("v",) * 3, 1)  # fmt: skip
