"""Volatility-scaled triple-barrier labels: the outcome a trade opened at a candle's close would
have had, with a take-profit, a stop-loss and a time limit.

Method (M. López de Prado, *Advances in Financial Machine Learning*, 2018, ch. 3; written here
from the definitions): at the close of candle t, an **upper** barrier at
``close[t] · (1 + upper · σ[t])``, a **lower** at ``close[t] · (1 − lower · σ[t])`` and a
**vertical** barrier ``horizon`` candles later. The label is UP when the upper barrier is touched
first, DOWN when the lower is, and at the vertical barrier FLAT (``vertical="flat"``) or the sign
of the return ``close[t + horizon] / close[t] − 1`` beyond ``dead_zone`` (``vertical="sign"``).
The classes are the project's (:data:`~quantum_trader.features.labels.CLASSES`: DOWN=0, FLAT=1,
UP=2), so every model that learns the sign-of-return label can learn this one.

Why volatility-scaled: a fixed ±1 % barrier is a coin toss in a calm month and a certainty in a
crash; scaling by σ makes a label mean the same thing in every regime. σ[t] is an *ex-ante*
estimate: the exponentially weighted standard deviation of the log returns of the closes up to
and including t (span ``vol_span``), so a label's barriers never read a candle after t. σ is per
candle: over ``horizon`` candles a random walk spreads by about ``σ·√horizon``, which is the scale
to think in when choosing ``upper`` and ``lower`` (horizon 24 → √24 ≈ 4.9).

Touches are decided on the candles' highs and lows, from candle t+1 to t+horizon (the trade is
entered at t's close). A candle whose range crosses **both** barriers is labelled **FLAT**: the
candle does not say which came first, and on either side the conservative reading is that the
stop was hit first — a long would have been stopped out and so would a short — so neither
direction is a trade worth learning. Its end is that candle.

Each label comes with its **real end**: the row of the candle whose high, low or close decided it
(``end_index``), its open time (``end_time``) and the moment the label is known, that candle's
close (``known_at``). Purging by the real end (:mod:`quantum_trader.features.purging`) keeps the
rows whose barrier fired early, which a purge by the fixed horizon throws away.

No label (NaN) where σ is not yet estimated (the first ``vol_span`` candles) or is 0, and for the
last ``horizon`` rows even where a barrier was touched before the data ends: keeping those would
make the last rows' labels depend on where the data stops (early touches kept, slow paths
dropped), a bias a model retrained at the tail would learn.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from quantum_trader.domain.time import timeframe_ms
from quantum_trader.features.labels import DOWN, FLAT, UP, classify_return, classify_returns
from quantum_trader.features.labels import BarrierSpec as BarrierSpec  # its home: labels.py
from quantum_trader.features.series import CandleSeries, FloatArray, IntArray

#: comparisons evaluated per chunk of rows (bounds memory for long horizons)
_CHUNK_CELLS = 1 << 22


class Barrier(IntEnum):
    """Which barrier decided a label."""

    NONE = 0  # no label
    UPPER = 1
    LOWER = 2
    BOTH = 3  # one candle crossed both: FLAT
    VERTICAL = 4


@dataclass(frozen=True, slots=True)
class BarrierLabels:
    """Per candle row: the label (DOWN=0 / FLAT=1 / UP=2 as floats, NaN for none), the barrier
    that decided it, the row, open time and close time (``known_at``) of the deciding candle
    (−1 where there is no label), and σ and the barrier prices it was judged against."""

    open_time: IntArray
    label: FloatArray
    barrier: npt.NDArray[np.int8]
    end_index: IntArray
    end_time: IntArray
    known_at: IntArray
    sigma: FloatArray
    upper: FloatArray
    lower: FloatArray

    def __len__(self) -> int:
        return len(self.label)

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.label)

    def spans(self) -> tuple[IntArray, IntArray]:
        """Each labelled row's label window ``[open_time, known_at)`` in epoch ms, the input of
        :func:`~quantum_trader.features.purging.purge_mask` (unlabelled rows left out)."""
        keep = self.labelled
        return self.open_time[keep], self.known_at[keep]


def ewm_volatility(close: FloatArray, span: int) -> FloatArray:
    """σ[t]: the exponentially weighted standard deviation (span ``span``, bias-corrected) of the
    log returns ``log(close[i] / close[i−1])`` for i ≤ t; NaN until ``span`` returns are seen.
    It reads nothing after t: ``σ[:t+1]`` is a function of ``close[:t+1]`` alone.

    >>> s = ewm_volatility(np.array([100.0, 101.0, 100.0, 101.0, 100.0]), span=2)
    >>> np.isnan(s[:2]).all(), bool(s[4] > 0)
    (np.True_, True)
    """
    log_returns = np.empty(len(close), dtype=np.float64)
    log_returns[:1] = np.nan
    log_returns[1:] = np.diff(np.log(close))
    ewm = pd.Series(log_returns).ewm(span=span, min_periods=span, adjust=True, ignore_na=True)
    return ewm.std(bias=False).to_numpy(dtype=np.float64)


def _first_touch(
    path: FloatArray, level: FloatArray, horizon: int, *, above: bool
) -> npt.NDArray[np.int64]:
    """For each row t < n − horizon: the offset k in 1..horizon of the first candle t+k whose
    ``path`` value is at or beyond ``level[t]`` (``>=`` when ``above``, else ``<=``);
    ``horizon + 1`` when none is. A NaN level is never touched."""
    windows = sliding_window_view(path[1:], horizon)  # row t: path[t+1 .. t+horizon]
    rows = len(windows)
    out = np.full(rows, horizon + 1, dtype=np.int64)
    chunk = max(1, _CHUNK_CELLS // horizon)
    for lo in range(0, rows, chunk):
        hi = min(rows, lo + chunk)
        bound = level[lo:hi, None]
        hit = windows[lo:hi] >= bound if above else windows[lo:hi] <= bound
        touched = hit.any(axis=1)
        out[lo:hi][touched] = hit[touched].argmax(axis=1) + 1
    return out


def triple_barrier_labels(candles: CandleSeries, spec: BarrierSpec | None = None) -> BarrierLabels:
    """Triple-barrier labels of every candle of ``candles`` under ``spec`` (see the module).

    >>> from quantum_trader.features.series import CandleSeries
    >>> close = np.array([100.0, 101.0, 100.0, 101.0, 100.0, 100.0, 103.0, 100.0])
    >>> c = CandleSeries("X", "1h", np.arange(8) * 3_600_000, close, close, close, close, close)
    >>> out = triple_barrier_labels(c, BarrierSpec(horizon=2, upper=1.0, lower=1.0, vol_span=3))
    >>> out.label.tolist()[3:6], out.end_index.tolist()[3:6]  # FLAT at the time limit, then UP
    ([1.0, 2.0, 2.0], [5, 6, 6])
    """
    spec = spec or BarrierSpec()
    n, h = len(candles), spec.horizon
    sigma = ewm_volatility(candles.close, spec.vol_span)
    usable = np.isfinite(sigma) & (sigma > 0)
    upper = np.where(usable, candles.close * (1.0 + spec.upper * sigma), np.nan)
    lower = np.where(usable, candles.close * (1.0 - spec.lower * sigma), np.nan)

    label = np.full(n, np.nan, dtype=np.float64)
    barrier = np.full(n, Barrier.NONE, dtype=np.int8)
    end_index = np.full(n, -1, dtype=np.int64)
    m = n - h  # rows whose vertical barrier lies inside the data
    if m > 0:
        up = _first_touch(candles.high, upper[:m], h, above=True)
        dn = _first_touch(candles.low, lower[:m], h, above=False)
        ok = usable[:m]
        first = np.minimum(up, dn)
        kind = np.select(
            [up < dn, dn < up, first <= h],
            [Barrier.UPPER, Barrier.LOWER, Barrier.BOTH],
            Barrier.VERTICAL,
        ).astype(np.int8)
        if spec.vertical == "sign":
            fwd = candles.close[h:] / candles.close[:m] - 1.0
            at_vertical = classify_returns(fwd, spec.dead_zone)
        else:
            at_vertical = np.full(m, float(FLAT))
        decided = np.select(
            [kind == Barrier.UPPER, kind == Barrier.LOWER, kind == Barrier.BOTH],
            [float(UP), float(DOWN), float(FLAT)],
            at_vertical,
        )
        label[:m] = np.where(ok, decided, np.nan)
        barrier[:m] = np.where(ok, kind, Barrier.NONE)
        end_index[:m] = np.where(ok, np.arange(m) + np.minimum(first, h), -1)

    has = end_index >= 0
    end_time = np.where(has, candles.open_time[np.maximum(end_index, 0)], -1)
    known_at = np.where(has, end_time + timeframe_ms(candles.timeframe), -1)
    return BarrierLabels(
        candles.open_time,
        label,
        barrier,
        end_index,
        end_time.astype(np.int64),
        known_at.astype(np.int64),
        sigma,
        upper,
        lower,
    )


class EwmVolatility:
    """:func:`ewm_volatility` one close at a time, for live labelling: O(1) work and memory per
    close. It runs pandas' recursion for ``ewm(span, adjust=True, ignore_na=True).std(bias=False)``
    (``ewmcov`` in ``pandas/_libs/window/aggregations.pyx``) step for step, and takes the log
    with numpy as the batch does, so that on the same closes σ is the batch's to the last bit
    (tests/features/test_streaming_labels.py).

    >>> closes = [100.0, 101.0, 100.0, 101.0, 100.0]
    >>> vol = EwmVolatility(span=2)
    >>> [vol.update(c) for c in closes][2:] == ewm_volatility(np.array(closes), span=2)[2:].tolist()
    True
    """

    __slots__ = (
        "_cov",
        "_decay",
        "_last_log",
        "_mean",
        "_nobs",
        "_old_wt",
        "_span",
        "_sum_wt",
        "_sum_wt2",
    )

    def __init__(self, span: int) -> None:
        if span < 2:
            raise ValueError(f"EwmVolatility.span={span}: must be >= 2")
        self._span = span
        self._decay = 1.0 - 1.0 / (1.0 + (span - 1) / 2.0)  # pandas: com = (span − 1) / 2
        self._last_log = math.nan  # before the first close: its return is NaN, as in the batch
        self._nobs = 0  # returns seen
        self._mean = math.nan
        self._cov = 0.0
        self._sum_wt = self._sum_wt2 = self._old_wt = 1.0

    def update(self, close: float) -> float:
        """σ at this close: NaN until ``span`` returns are seen or while they cannot spread."""
        log_close = float(np.log(close))  # numpy's log, not math's: the batch's bits
        x = log_close - self._last_log
        self._last_log = log_close
        if not math.isnan(x):  # ignore_na: a NaN return changes nothing
            self._observe(x)
        return self.sigma

    def _observe(self, x: float) -> None:
        self._nobs += 1
        if math.isnan(self._mean):
            self._mean = x
            return
        decay = self._decay
        self._sum_wt *= decay
        self._sum_wt2 *= decay * decay
        self._old_wt *= decay
        old_wt, old_mean = self._old_wt, self._mean
        if old_mean != x:  # pandas' guard for constant series
            self._mean = (old_wt * old_mean + x) / (old_wt + 1.0)
        mean = self._mean
        moved = (old_mean - mean) * (old_mean - mean)
        self._cov = (old_wt * (self._cov + moved) + (x - mean) * (x - mean)) / (old_wt + 1.0)
        self._sum_wt += 1.0
        self._sum_wt2 += 1.0
        self._old_wt += 1.0

    @property
    def sigma(self) -> float:
        if self._nobs < self._span:
            return math.nan
        numerator = self._sum_wt * self._sum_wt
        denominator = numerator - self._sum_wt2
        if not denominator > 0:
            return math.nan
        variance = numerator / denominator * self._cov
        return 0.0 if variance < 0 else math.sqrt(variance)


class StreamingBarrierLabels:
    """:func:`triple_barrier_labels` candle by candle: the live pipeline's realised labels.

    :meth:`update` takes each closed candle in time order. The label of candle t is decided when
    candle t + horizon arrives, by the batch's rules from σ at t (:class:`EwmVolatility`) and the
    highs, lows and last close of candles t+1 … t+horizon: none where σ is NaN or 0, a candle
    through both barriers FLAT, the time limit per ``spec.vertical``, and never before t +
    horizon even when a barrier was touched earlier (as the batch leaves its last rows
    unlabelled). On the same candles the labels are the batch's (tested on real data). The
    batch counts rows, this counts candles by open time: a window with a missing candle gets no
    label. Memory: the newest ``horizon + 1`` candles, and the labels until
    :meth:`forget_before` drops them.

    >>> from quantum_trader.features.labels import BarrierSpec
    >>> live = StreamingBarrierLabels(BarrierSpec(horizon=2, upper=1.0, lower=1.0, vol_span=3), 1)
    >>> for t, c in enumerate([100.0, 101.0, 100.0, 101.0, 100.0, 100.0, 103.0, 100.0]):
    ...     live.update(t, c, c, c)
    >>> [live.label(t) for t in (3, 4, 5)]  # the batch's: FLAT at the time limit, then UP
    [1, 2, 2]
    """

    def __init__(self, spec: BarrierSpec, timeframe_ms: int) -> None:
        if timeframe_ms <= 0:
            raise ValueError(f"StreamingBarrierLabels.timeframe_ms={timeframe_ms}: must be > 0")
        self.spec = spec
        self._tf = timeframe_ms
        self._vol = EwmVolatility(spec.vol_span)
        #: (open time, high, low, close, σ) of the newest horizon + 1 candles
        self._window: deque[tuple[int, float, float, float, float]] = deque(maxlen=spec.horizon + 1)
        self._labels: dict[int, int] = {}  # open time → label, oldest first

    def update(self, open_time: int, high: float, low: float, close: float) -> None:
        """Take the next closed candle and decide the label of the one ``horizon`` before."""
        window = self._window
        if window and open_time <= window[-1][0]:
            raise ValueError(
                f"StreamingBarrierLabels.update: candle at {open_time} does not come after "
                f"the last one, at {window[-1][0]} (σ cannot take a candle back)"
            )
        window.append((open_time, high, low, close, self._vol.update(close)))
        start = open_time - self.spec.horizon * self._tf
        if len(window) == window.maxlen and window[0][0] == start:
            label = self._decide()
            if label is not None:
                self._labels[start] = label

    def label(self, open_time: int) -> int | None:
        """The label of the candle opened at ``open_time``; None if not decided (yet), or none."""
        return self._labels.get(open_time)

    def forget_before(self, open_time: int) -> None:
        """Drop the labels of candles opened before ``open_time``."""
        labels = self._labels
        while labels and (oldest := next(iter(labels))) < open_time:
            del labels[oldest]

    def _decide(self) -> int | None:
        spec = self.spec
        path = iter(self._window)
        _, _, _, close, sigma = next(path)
        if not (math.isfinite(sigma) and sigma > 0):
            return None
        upper = close * (1.0 + spec.upper * sigma)  # the batch's arithmetic, in its order
        lower = close * (1.0 - spec.lower * sigma)
        for _, high, low, _, _ in path:
            up, down = high >= upper, low <= lower
            if up or down:
                return FLAT if up and down else UP if up else DOWN
        if spec.vertical == "sign":
            return classify_return(self._window[-1][3] / close - 1.0, spec.dead_zone)
        return FLAT
