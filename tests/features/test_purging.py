"""Purging by real end time: the rules, and that today's two fixed-horizon purges are special
cases of it (so that ``evaluation/folds.py`` and ``learning/walk_forward.py`` can switch)."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.evaluation.folds import check_training_window, plan_folds
from quantum_trader.features.purging import fixed_horizon_spans, purge_mask
from quantum_trader.learning.walk_forward import WalkForwardConfig, make_folds


def test_a_row_whose_label_ends_at_the_test_start_is_kept_one_later_is_purged() -> None:
    start = np.array([0, 1, 2])
    end = np.array([10, 11, 30])
    assert purge_mask(start, end, test_start=10, test_end=20).tolist() == [True, False, False]


def test_rows_after_the_test_window_are_kept_unless_embargoed() -> None:
    start = np.array([20, 24, 25])
    end = start + 5
    assert purge_mask(start, end, test_start=10, test_end=20).tolist() == [True, True, True]
    kept = purge_mask(start, end, test_start=10, test_end=20, embargo_after=5)
    assert kept.tolist() == [False, False, True]


def test_embargo_before_widens_the_window_backwards() -> None:
    start = np.array([0, 5])
    end = start + 5  # the second label is known at 10
    assert purge_mask(start, end, test_start=12, test_end=20).tolist() == [True, True]
    for before, expected in ((2, [True, True]), (3, [True, False])):
        kept = purge_mask(start, end, test_start=12, test_end=20, embargo_before=before)
        assert kept.tolist() == expected


@pytest.mark.parametrize("horizon", [1, 4, 24])
@pytest.mark.parametrize("embargo_hours", [0, 6])
def test_fixed_horizon_spans_purge_exactly_what_the_system_walk_forward_refuses(
    horizon: int, embargo_hours: int
) -> None:
    """evaluation/folds.py: a model fitted up to a row is accepted by ``check_training_window``
    exactly when that row survives the purge (embargo before the fold)."""
    fold = plan_folds(
        start=40 * MS_PER_DAY,
        end=50 * MS_PER_DAY,
        folds=1,
        train_days=5,
        embargo_ms=embargo_hours * MS_PER_HOUR,
    )[0]
    rows = np.arange(fold.train_start, fold.start, MS_PER_HOUR)
    a, b = fixed_horizon_spans(rows, horizon, MS_PER_HOUR)
    kept = purge_mask(
        a, b, test_start=fold.start, test_end=fold.end, embargo_before=embargo_hours * MS_PER_HOUR
    )
    for row, keep in zip(rows.tolist(), kept.tolist(), strict=True):
        try:
            check_training_window(
                fold, "m", (fold.train_start, row), horizon=horizon, tf_ms=MS_PER_HOUR
            )
            accepted = True
        except LookAheadError:
            accepted = False
        assert keep == accepted, row
    assert 0 < kept.sum() < len(rows)


@pytest.mark.parametrize("horizon", [1, 4, 24])
def test_fixed_horizon_spans_purge_exactly_the_rows_the_member_walk_forward_skips(
    horizon: int,
) -> None:
    """learning/walk_forward.py: training stops ``horizon`` rows before the test rows."""
    config = WalkForwardConfig(train_rows=200, test_rows=50, step_rows=50, max_folds=3)
    n = 500
    times = np.arange(n, dtype=np.int64) * MS_PER_HOUR
    a, b = fixed_horizon_spans(times, horizon, MS_PER_HOUR)
    for fold in make_folds(n, horizon, config):
        test_start, test_end = times[fold.test[0]], times[fold.test[1] - 1] + MS_PER_HOUR
        kept = purge_mask(a, b, test_start=int(test_start), test_end=int(test_end))
        before = np.flatnonzero(kept[: fold.test[0]])
        assert before[-1] + 1 == fold.train[1]  # the last kept row before the test ends training
        assert len(before) == fold.train[1]  # and every row before it is kept


def test_bad_input_is_refused_saying_what_and_where() -> None:
    with pytest.raises(ValueError, match="row 1: label_end 5 is not after label_start 5"):
        purge_mask([0, 5], [3, 5], test_start=0, test_end=10)
    with pytest.raises(ValueError, match="one per row"):
        purge_mask([0, 5], [3], test_start=0, test_end=10)
    with pytest.raises(ValueError, match="is empty"):
        purge_mask([0], [3], test_start=10, test_end=10)
    with pytest.raises(ValueError, match="integer epoch times"):
        purge_mask(np.array([0.5]), np.array([3.0]), test_start=0, test_end=10)
    with pytest.raises(ValueError, match="must be >= 0"):
        purge_mask([0], [3], test_start=0, test_end=10, embargo_after=-1)
