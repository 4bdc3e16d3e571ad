"""The validation gate's paired test and verdicts (issue 17 item 2, classification part)."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.learning.gate import GateConfig, diebold_mariano, validate

UP_WORLD = np.array([0.1, 0.2, 0.7])
DOWN_WORLD = np.array([0.7, 0.2, 0.1])


def _world(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and the true class distribution of each row."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.integers(0, 2, rows)[:, None] == 1, UP_WORLD, DOWN_WORLD)
    u = rng.random(rows)
    y = (u[:, None] > np.cumsum(truth, axis=1)).sum(axis=1).astype(np.float64)
    return y, truth


def test_a_skilled_candidate_passes_over_a_skill_less_champion() -> None:
    y, truth = _world(1, 500)
    base = np.tile([0.4, 0.2, 0.4], (500, 1))
    result = validate(y, base, truth, horizon=4)
    assert result.passed and result.mean_difference > 0
    assert "passed" in result.reason and result.candidate["log_loss"] < result.champion["log_loss"]


def test_a_clone_does_not_pass() -> None:
    y, truth = _world(2, 500)
    result = validate(y, truth, truth.copy(), horizon=4)
    assert not result.passed and result.statistic == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_a_candidate_on_shuffled_labels_does_not_pass(seed: int) -> None:
    y, truth = _world(seed, 500)
    shuffled = truth[np.random.default_rng(seed + 100).permutation(500)]
    assert not validate(y, truth, shuffled, horizon=4).passed


def test_too_few_rows_are_not_judged() -> None:
    y, truth = _world(3, 50)
    result = validate(y, truth, truth, horizon=4, config=GateConfig(min_rows=100))
    assert not result.passed and "not judged" in result.reason
    with pytest.raises(ValueError, match="validation rows differ"):
        validate(y, truth, truth[:-1], horizon=4)


def test_a_a_false_pass_rate_with_overlapping_windows_is_near_alpha() -> None:
    """Loss differences over overlapping 4-bar windows (MA(4)) with mean 0: the one-sided test
    at 0.05 with the long-run variance to lag 4 passes about 5 % of them (5.7 % of 1,000
    measured); with lag 0 (the
    overlap ignored) far more."""
    passes_nw, passes_naive, replicates = 0, 0, 400
    for seed in range(replicates):
        shocks = np.random.default_rng(seed).normal(0.0, 1.0, 500 + 4)
        d = np.convolve(shocks, np.ones(5), "valid")[:500]
        passes_nw += diebold_mariano(d, lag=4)[1] < 0.05
        passes_naive += diebold_mariano(d, lag=0)[1] < 0.05
    assert passes_nw / replicates <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / replicates)
    assert passes_naive / replicates > 0.12
