"""Indicator states: each one is updated one value at a time with constant work.

The batch path (training, backtests) runs these same states over a whole series, so batch and
streaming output are equal by construction, and a value at t can only depend on inputs up to t.
Rolling windows keep a ring buffer and running sums (re-summed exactly every ``RESYNC`` updates so
float rounding cannot drift over years of candles); the EMA family is recursive.
Every ``update`` returns NaN until its window is full: a missing value, never a guess.
"""

from __future__ import annotations

import math
from collections import deque

NAN = float("nan")
RESYNC = 1024


class Ema:
    """Exponential moving average, alpha = 2 / (span + 1), seeded with the SMA of the first span.

    >>> e = Ema(3)
    >>> [round(e.update(x), 3) for x in (1.0, 2.0, 3.0, 4.0)]
    [nan, nan, 2.0, 3.0]
    """

    __slots__ = ("_alpha", "_n", "_seed", "span", "value")

    def __init__(self, span: int, alpha: float | None = None) -> None:
        if span < 1:
            raise ValueError(f"Ema.span={span}: must be >= 1")
        self.span = span
        self._alpha = 2.0 / (span + 1.0) if alpha is None else alpha
        self._n = 0
        self._seed = 0.0
        self.value = NAN

    def update(self, x: float) -> float:
        if self._n < self.span:
            self._n += 1
            self._seed += x
            if self._n == self.span:
                self.value = self._seed / self.span
            return self.value
        self.value += self._alpha * (x - self.value)
        return self.value


def wilder(period: int) -> Ema:
    """Wilder's smoothing (RSI, ATR): an EMA with alpha = 1 / period."""
    return Ema(period, alpha=1.0 / period)


class Rolling:
    """Mean and (population) standard deviation over the last ``window`` values.

    >>> r = Rolling(2)
    >>> [r.update(x) for x in (1.0, 3.0, 5.0)]
    [nan, 2.0, 4.0]
    >>> r.std
    1.0
    """

    __slots__ = ("_buf", "_count", "_sum", "_sumsq", "window")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"Rolling.window={window}: must be >= 1")
        self.window = window
        self._buf: deque[float] = deque(maxlen=window)
        self._sum = 0.0
        self._sumsq = 0.0
        self._count = 0

    def update(self, x: float) -> float:
        """Add ``x``; return the mean of the window (NaN until full)."""
        buf = self._buf
        window = self.window
        full = len(buf) == window
        if full:
            old = buf[0]
            self._sum -= old
            self._sumsq -= old * old
        buf.append(x)
        self._sum += x
        self._sumsq += x * x
        self._count += 1
        if self._count % RESYNC == 0:
            self._sum = math.fsum(buf)
            self._sumsq = math.fsum(v * v for v in buf)
        # full now if it was, or if this value filled it (the ``mean`` property, inlined)
        return self._sum / window if full or len(buf) == window else NAN

    @property
    def full(self) -> bool:
        return len(self._buf) == self.window

    @property
    def mean(self) -> float:
        return self._sum / self.window if self.full else NAN

    @property
    def std(self) -> float:
        window = self.window
        if len(self._buf) != window:
            return NAN
        mean = self._sum / window
        return math.sqrt(max(self._sumsq / window - mean * mean, 0.0))


class Lag:
    """The value ``lag`` updates ago (NaN until known).

    >>> g = Lag(2)
    >>> [g.update(x) for x in (1.0, 2.0, 3.0)]
    [nan, nan, 1.0]
    """

    __slots__ = ("_buf", "lag")

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self._buf: deque[float] = deque(maxlen=lag + 1)

    def update(self, x: float) -> float:
        self._buf.append(x)
        return self._buf[0] if len(self._buf) == self.lag + 1 else NAN

    def __len__(self) -> int:
        """How many values are held (at most ``lag + 1``)."""
        return len(self._buf)

    def get(self, k: int) -> float:
        """The value ``k`` updates ago (``k <= lag``), NaN if not yet seen."""
        buf = self._buf
        return buf[-1 - k] if k < len(buf) else NAN


class Rsi:
    """Wilder's RSI on closes, in [0, 100].

    >>> r = Rsi(2)
    >>> [round(r.update(x), 1) for x in (1.0, 2.0, 3.0, 2.0)]
    [nan, nan, 100.0, 50.0]
    """

    __slots__ = ("_gain", "_loss", "_prev")

    def __init__(self, period: int = 14) -> None:
        self._gain = wilder(period)
        self._loss = wilder(period)
        self._prev = NAN

    def update(self, close: float) -> float:
        prev, self._prev = self._prev, close
        if math.isnan(prev):
            return NAN
        change = close - prev
        gain = self._gain.update(max(change, 0.0))
        loss = self._loss.update(max(-change, 0.0))
        if math.isnan(gain):
            return NAN
        total = gain + loss
        return 50.0 if total == 0.0 else 100.0 * gain / total


class Atr:
    """Wilder's average true range."""

    __slots__ = ("_avg", "_prev_close")

    def __init__(self, period: int = 14) -> None:
        self._avg = wilder(period)
        self._prev_close = NAN

    def update(self, high: float, low: float, close: float) -> float:
        prev, self._prev_close = self._prev_close, close
        if math.isnan(prev):
            return NAN
        true_range = max(high - low, abs(high - prev), abs(low - prev))
        return self._avg.update(true_range)


class Macd:
    """MACD line, signal line and histogram (fast 12, slow 26, signal 9 by default)."""

    __slots__ = ("_fast", "_signal", "_slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)

    def update(self, close: float) -> tuple[float, float, float]:
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if math.isnan(slow):
            return NAN, NAN, NAN
        line = fast - slow
        signal = self._signal.update(line)
        return line, signal, line - signal
