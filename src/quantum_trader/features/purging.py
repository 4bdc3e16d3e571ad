"""Purging and embargo by each label's real end: which training rows may be fitted on when a
test window is held out.

A training row's label is a window of time, ``[start, end)``: from the open of the row's candle
to the moment its label is known (the close of the candle that decided it). If that window
overlaps the test window, the row's label was decided by prices the test scores on, and fitting
on it leaks the test's outcome into the model: the row is **purged**. Rows *after* the test window
(k-fold or combinatorial cross-validation, not a walk-forward) can still carry the test's
information through serially correlated features; the **embargo** after the test window drops
those that start within ``embargo_after`` of its end (López de Prado, *Advances in Financial
Machine Learning*, 2018, ch. 7). ``embargo_before`` widens the window backwards instead: the
walk-forward of ``evaluation/folds.py`` ends training ``--embargo-hours`` before the fold.

Today both walk-forwards purge by a *fixed* horizon: ``evaluation/folds.py`` ends the training
history ``embargo`` before the fold and its ``check_training_window`` requires every fitted
row's label to be known by then, assuming it is
known ``horizon + 1`` candles after the row opens; ``learning/walk_forward.py`` skips ``horizon``
rows between training and test. With labels whose length varies (triple-barrier labels end at
the first barrier touched), the fixed horizon is only an upper bound. Both can switch to
:func:`purge_mask`: with :func:`fixed_horizon_spans` it drops exactly the rows they drop today (the
tests check that), and with :meth:`~quantum_trader.features.triple_barrier.BarrierLabels.spans`
it keeps the rows whose barrier fired before the test window. It lives in ``features`` (below
both ``learning`` and ``evaluation`` in the layer map) so that either may import it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quantum_trader.features.series import IntArray

BoolArray = npt.NDArray[np.bool_]


def _int_times(values: npt.ArrayLike, what: str) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array of epoch times, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what}: expected integer epoch times, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def purge_mask(
    label_start: npt.ArrayLike,
    label_end: npt.ArrayLike,
    *,
    test_start: int,
    test_end: int,
    embargo_after: int = 0,
    embargo_before: int = 0,
) -> BoolArray:
    """True for the training rows that may be fitted on when ``[test_start, test_end)`` is
    held out: a row whose label window ``[label_start, label_end)`` overlaps
    ``[test_start − embargo_before, test_end + embargo_after)`` is dropped, every other row kept.
    All times in one unit (epoch ms in this project). Rows without a label have no window: leave
    them out before calling.

    >>> start = np.array([0, 10, 20, 30, 40, 50])
    >>> purge_mask(start, start + 15, test_start=30, test_end=40).tolist()
    [True, True, False, False, True, True]
    >>> purge_mask(start, start + 15, test_start=30, test_end=40, embargo_after=10).tolist()
    [True, True, False, False, False, True]
    """
    a = _int_times(label_start, "label_start")
    b = _int_times(label_end, "label_end")
    if len(a) != len(b):
        raise ValueError(f"label_start has {len(a)} rows and label_end {len(b)}: one per row")
    bad = np.flatnonzero(b <= a)
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"row {i}: label_end {int(b[i])} is not after label_start {int(a[i])}; a label is "
            "known only after its row opens"
        )
    if test_end <= test_start:
        raise ValueError(f"test window [{test_start}, {test_end}) is empty")
    if embargo_after < 0 or embargo_before < 0:
        raise ValueError(
            f"embargo_after={embargo_after}, embargo_before={embargo_before}: must be >= 0"
        )
    lo, hi = test_start - embargo_before, test_end + embargo_after
    overlaps = (a < hi) & (b > lo)
    return ~overlaps


def fixed_horizon_spans(
    open_time: npt.ArrayLike, horizon: int, tf_ms: int
) -> tuple[IntArray, IntArray]:
    """Label windows of the sign-of-return label (``features/labels.py``): the row opening at
    ``t`` compares its close with the close ``horizon`` candles later, known at
    ``t + (horizon + 1)·tf`` — the rule ``check_training_window`` applies.

    >>> fixed_horizon_spans([0, 10], horizon=4, tf_ms=10)
    (array([ 0, 10]), array([50, 60]))
    """
    if horizon < 1 or tf_ms < 1:
        raise ValueError(f"horizon={horizon}, tf_ms={tf_ms}: both must be >= 1")
    start = _int_times(open_time, "open_time")
    return start, start + (horizon + 1) * tf_ms
