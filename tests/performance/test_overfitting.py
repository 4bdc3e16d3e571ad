"""Probability of backtest overfitting by CSCV: against the definition computed one combination
at a time, and on three cases whose answer is known (noise, a real edge, a built-in overfit)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from quantum_trader.performance.overfitting import probability_of_backtest_overfitting

FloatArray = np.ndarray


def reference(m: FloatArray, s: int) -> tuple[list[int], list[float], list[float], list[float]]:
    """The paper's procedure, literally: per combination of S/2 blocks, the in-sample best trial
    (the first of the highest mean / std), its out-of-sample rank (ties averaged) and the logit;
    Sharpe ratios within 1e-9 (relative) of each other are tied, as in the code."""
    t, n = m.shape
    blocks = np.array_split(np.arange(t), s)
    best, is_sr, oos_sr, logits = [], [], [], []
    for chosen in combinations(range(s), s // 2):
        rows_in = np.concatenate([blocks[b] for b in chosen])
        rows_out = np.concatenate([blocks[b] for b in range(s) if b not in chosen])
        sr_in = m[rows_in].mean(axis=0) / m[rows_in].std(axis=0, ddof=1)
        sr_out = m[rows_out].mean(axis=0) / m[rows_out].std(axis=0, ddof=1)
        k = int(np.argmax(np.isclose(sr_in, sr_in.max(), rtol=1e-9, atol=1e-9)))
        tied = np.isclose(sr_out, sr_out[k], rtol=1e-9, atol=1e-9)
        rank = (~tied & (sr_out < sr_out[k])).sum() + (tied.sum() + 1) / 2
        omega = rank / (n + 1)
        best.append(k)
        is_sr.append(float(sr_in[k]))
        oos_sr.append(float(sr_out[k]))
        logits.append(math.log(omega / (1 - omega)))
    return best, is_sr, oos_sr, logits


@pytest.mark.parametrize(("t", "n", "s"), [(120, 5, 4), (203, 7, 6), (97, 3, 8), (40, 2, 2)])
def test_vectorised_result_equals_the_procedure_one_combination_at_a_time(
    t: int, n: int, s: int
) -> None:
    m = np.random.default_rng(t).normal(0.0005, 0.01, size=(t, n))
    result = probability_of_backtest_overfitting(m, blocks=s)
    best, is_sr, oos_sr, logits = reference(m, s)
    assert result.best.tolist() == best
    np.testing.assert_allclose(result.is_sharpe, is_sr, rtol=1e-9)
    np.testing.assert_allclose(result.oos_sharpe, oos_sr, rtol=1e-9)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-12)
    assert result.pbo == np.mean(np.array(logits) <= 0)
    slope, intercept = np.polyfit(is_sr, oos_sr, 1)
    assert result.degradation_slope == pytest.approx(slope)
    assert result.degradation_intercept == pytest.approx(intercept)
    assert result.prob_oos_loss == np.mean(np.array(oos_sr) < 0)


@pytest.mark.parametrize("s", [2, 4, 6, 8, 10, 12])
def test_one_result_per_combination_of_half_the_blocks(s: int) -> None:
    m = np.random.default_rng(s).normal(size=(120, 4))
    result = probability_of_backtest_overfitting(m, blocks=s)
    assert result.combinations == math.comb(s, s // 2) == len(result.logits) == len(result.best)
    assert (result.blocks, result.periods, result.trials) == (s, 120, 4)


def test_trials_alike_in_distribution_give_a_coin_toss() -> None:
    """20 trials of i.i.d. normal noise, 1,000 periods, S = 8: the out-of-sample rank of the
    in-sample best is uniform, so PBO is 0.5 in expectation. One matrix's PBO spreads widely (the
    70 combinations share their data; seeds 0-49 give 0.16 to 0.91, standard deviation 0.17), so
    the mean over seeds 0-49 is held to 0.5 ± 0.08 (about 3.3 standard errors)."""
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 0.01, size=(1000, 20)), blocks=8
        ).pbo
        for seed in range(50)
    ]
    assert abs(np.mean(values) - 0.5) <= 0.08, np.mean(values)


@pytest.mark.parametrize("seed", range(10))
def test_one_trial_with_a_real_edge_among_noise_is_chosen_and_holds_out_of_sample(
    seed: int,
) -> None:
    """Trial 7 earns 0.2 standard deviations a period more than 19 noise trials (seeds 0-9):
    PBO at most 0.1, and it is the in-sample best in most combinations."""
    m = np.random.default_rng(seed).normal(0.0, 0.01, size=(1000, 20))
    m[:, 7] += 0.002
    result = probability_of_backtest_overfitting(m, blocks=8)
    assert result.pbo <= 0.1
    assert np.mean(result.best == 7) >= 0.9
    assert result.prob_oos_loss == 0.0


def test_when_the_in_sample_best_is_always_the_out_of_sample_worst_pbo_is_one() -> None:
    """Every trial is a reordering of the same ±1 % returns, half up: with equal halves, a trial
    with more gains in sample has fewer out of sample, and for ±1 returns the Sharpe ratio rises
    with the share of gains. So the in-sample best is the out-of-sample worst, every time."""
    rng = np.random.default_rng(0)
    base = np.repeat([0.01, -0.01], 200)
    m = np.column_stack([rng.permutation(base) for _ in range(12)])
    result = probability_of_backtest_overfitting(m, blocks=8)
    _, _, _, logits = reference(m, 8)
    np.testing.assert_allclose(result.logits, logits)
    assert result.pbo == 1.0
    for chosen, oos in zip(combinations(range(8), 4), result.oos_sharpe, strict=True):
        rows = np.concatenate(
            [np.arange(b * 50, (b + 1) * 50) for b in range(8) if b not in chosen]
        )
        every_oos = m[rows].mean(axis=0) / m[rows].std(axis=0, ddof=1)
        assert oos == pytest.approx(every_oos.min())


@pytest.mark.parametrize("seed", range(5))
def test_demeaned_noise_is_overfit_by_construction(seed: int) -> None:
    """Each trial's mean over the whole sample removed: in-sample gains are out-of-sample losses
    (the paper's example). PBO at least 0.95 and the degradation slope negative."""
    m = np.random.default_rng(seed).normal(0.0, 0.01, size=(1000, 20))
    m -= m.mean(axis=0)
    result = probability_of_backtest_overfitting(m, blocks=8)
    assert result.pbo >= 0.95
    assert result.degradation_slope < 0


def test_a_trial_that_never_trades_has_sharpe_zero_and_no_error() -> None:
    m = np.random.default_rng(1).normal(0.0, 0.01, size=(200, 3))
    m[:, 1] = 0.0
    result = probability_of_backtest_overfitting(m, blocks=4)
    assert np.isfinite(result.logits).all()
    m[:, 2] = np.random.default_rng(2).normal(0.01, 0.001, size=200)
    assert set(probability_of_backtest_overfitting(m, blocks=4).best.tolist()) == {2}


@pytest.mark.parametrize(
    ("shape", "blocks", "message"),
    [
        ((100, 4), 5, r"blocks=5: S must be even"),
        ((100, 4), 0, r"blocks=0: S must be even and >= 2"),
        ((10, 4), 12, r"blocks=12 > 10 periods"),
        ((100, 1), 4, r"1 trial\(s\)"),
        ((100,), 4, r"T×N matrix"),
        ((3, 4), 2, r"3 periods in 2 blocks leave 1 period\(s\) in a half"),
    ],
)
def test_bad_input_is_refused_saying_what(
    shape: tuple[int, ...], blocks: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.zeros(shape), blocks=blocks)


def test_a_missing_return_is_refused_naming_its_period_and_trial() -> None:
    m = np.zeros((100, 4))
    m[37, 2] = np.nan
    m[80, 0] = np.inf
    with pytest.raises(ValueError, match=r"returns\[37, 2\] \(period 37, trial 2\) is nan.*2 are"):
        probability_of_backtest_overfitting(m, blocks=4)
