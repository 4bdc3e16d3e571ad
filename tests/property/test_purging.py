"""Property tests of purging by real end time (features/purging.py).

For random label windows, test windows and embargoes, an oracle restates the rule on a grid of
integer instants, independently of the interval arithmetic: a row is dropped exactly when some
instant of its label window ``[start, end)`` lies in ``[test_start − before, test_end + after)``.
From it: every row whose label ends inside the test window is dropped, and no row is dropped
without touching it. On triple-barrier labels of random paths, no kept row's label is known
inside the test window or starts in it or its embargo.

``QT_HYPOTHESIS_EXAMPLES`` sets the number of cases (default 10,000 when ``CI=true``, 500
locally), as for the other properties.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.purging import purge_mask
from quantum_trader.features.series import CandleSeries
from quantum_trader.features.triple_barrier import BarrierSpec, triple_barrier_labels

_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
EXAMPLES = int(os.environ.get("QT_HYPOTHESIS_EXAMPLES", "10000" if _CI else "500"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

windows = st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), min_size=1, max_size=40)


@PROPERTY
@given(
    rows=windows,
    test=st.tuples(st.integers(0, 60), st.integers(1, 30)),
    before=st.integers(0, 10),
    after=st.integers(0, 10),
)
def test_a_row_is_purged_exactly_when_its_label_window_touches_the_held_out_time(
    rows: list[tuple[int, int]], test: tuple[int, int], before: int, after: int
) -> None:
    start = np.array([a for a, _ in rows], dtype=np.int64)
    end = start + np.array([length for _, length in rows], dtype=np.int64)
    test_start, test_end = test[0], test[0] + test[1]
    kept = purge_mask(
        start,
        end,
        test_start=test_start,
        test_end=test_end,
        embargo_before=before,
        embargo_after=after,
    )
    held_out = set(range(test_start - before, test_end + after))
    for a, b, keep in zip(start.tolist(), end.tolist(), kept.tolist(), strict=True):
        touches = bool(held_out & set(range(a, b)))
        assert keep == (not touches), (a, b)
        if test_start < b <= test_end:  # the label ends (is known) inside the test window
            assert not keep


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    horizon=st.integers(1, 12),
    test=st.tuples(st.integers(0, 180), st.integers(1, 60)),
    after=st.integers(0, 12),
)
def test_no_kept_triple_barrier_row_reads_the_test_window(
    seed: int, horizon: int, test: tuple[int, int], after: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    wick = np.abs(rng.normal(0, 0.005, (2, n)))
    candles = CandleSeries(
        "P",
        "1h",
        np.arange(n, dtype=np.int64) * MS_PER_HOUR,
        close,
        close * (1 + wick[0]),
        close * (1 - wick[1]),
        close,
        np.ones(n),
    )
    labels = triple_barrier_labels(candles, BarrierSpec(horizon=horizon, upper=1.0, vol_span=10))
    start, known_at = labels.spans()
    test_start, test_end = test[0] * MS_PER_HOUR, (test[0] + test[1]) * MS_PER_HOUR
    embargo = after * MS_PER_HOUR
    kept = purge_mask(
        start, known_at, test_start=test_start, test_end=test_end, embargo_after=embargo
    )
    before_test = known_at[kept] <= test_start
    after_test = start[kept] >= test_end + embargo
    assert (before_test | after_test).all()
    # what the fixed horizon would purge, this keeps: rows whose barrier fired early
    fixed_known = start + (horizon + 1) * MS_PER_HOUR
    assert (kept >= ((fixed_known <= test_start) | (start >= test_end + embargo))).all()
