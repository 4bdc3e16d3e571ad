"""Candle-based fill rules (documented in docs/execution.md, "Fill rules").

Inside one candle only open, high, low and close are known, so the simulator assumes a path:
``open → low → high → close`` while the account is long after the open (the adverse extreme
first), ``open → high → low → close`` otherwise. Every resting order and the liquidation price is
checked against that path; whatever the path touches first happens first. This makes the rule
"when a stop-loss and a take-profit are both touched inside one candle, the worse outcome is
taken" a consequence rather than a special case. Finer data (a smaller timeframe) resolves it.

Path time runs from 0 (the open) to 3 (the close): segment ``k`` (1..3) spans ``[k-1, k]``.
"""

from __future__ import annotations

Path = tuple[float, float, float, float]


def candle_path(o: float, h: float, lo: float, c: float, *, long: bool) -> Path:
    """The assumed price path through a candle.

    >>> candle_path(10, 12, 9, 11, long=True)
    (10, 9, 12, 11)
    >>> candle_path(10, 12, 9, 11, long=False)
    (10, 12, 9, 11)
    """
    return (o, lo, h, c) if long else (o, h, lo, c)


def price_at(path: Path, t: float) -> float:
    """Price on the path at time ``t``.

    >>> price_at((10.0, 8.0, 12.0, 11.0), 1.5)
    10.0
    """
    if t <= 0.0:
        return path[0]
    k = min(int(t), 2)
    a, b = path[k], path[k + 1]
    return a + (b - a) * (t - k)


def first_touch(
    path: Path, level: float, *, up: bool, start: float = 0.0
) -> tuple[float, float] | None:
    """When and at what price the path first reaches ``level`` at or after ``start``.

    ``up``: the trigger fires when the price is at or above ``level`` (buy stop, sell limit,
    short liquidation); otherwise at or below. If the price is already beyond the level at
    ``start`` (a gap at the open), it fires there at the current price, not at the level.

    >>> first_touch((10.0, 8.0, 12.0, 11.0), 9.0, up=False)
    (0.5, 9.0)
    >>> first_touch((10.0, 8.0, 12.0, 11.0), 11.0, up=True)
    (1.75, 11.0)
    >>> first_touch((10.0, 8.0, 12.0, 11.0), 10.5, up=False)
    (0.0, 10.0)
    >>> first_touch((10.0, 8.0, 12.0, 11.0), 13.0, up=True) is None
    True
    """
    current = price_at(path, start)
    if (up and current >= level) or (not up and current <= level):
        return start, current
    t0 = start
    for k in range(int(min(start, 2.999999)) + 1, 4):
        a = current if t0 > k - 1 else path[k - 1]
        b = path[k]
        seg_start = max(t0, float(k - 1))
        if (up and a < level <= b) or (not up and a > level >= b):
            frac = (level - a) / (b - a)
            return seg_start + frac * (k - seg_start), level
        t0 = float(k)
        current = b
    return None
