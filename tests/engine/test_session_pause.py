"""A session holds its pause (the training workers stopped, ``clock/pause.py``) around the
trader's decision on each candle that comes paced or live, and never in a replay back to back,
which waits for its trainings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantum_trader.engine.engine import Bar
from quantum_trader.engine.session import BarSource, SessionConfig, TradingSession
from quantum_trader.engine.trader import TradingContext

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def _frame(candles: int) -> pd.DataFrame:
    close = 100.0 + np.arange(candles, dtype=np.float64) * 0.1
    return pd.DataFrame(
        {
            "open_time": START + np.arange(candles, dtype=np.int64) * HOUR,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.full(candles, 10.0),
        }
    )


class _Pause:
    def __init__(self) -> None:
        self.held = False
        self.holds = 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.held, self.holds = True, self.holds + 1
        try:
            yield
        finally:
            self.held = False


class _Trader:
    """Notes, per candle, whether the pause was held while it decided."""

    name = "noting"

    def __init__(self, pause: _Pause, fail_at: int | None = None) -> None:
        self.pause = pause
        self.seen: list[bool] = []
        self.fail_at = fail_at

    def bind(self, context: TradingContext) -> None:
        pass

    def on_bar(self, symbol: str, open_time: int, close_time: int, *_: float) -> None:
        self.seen.append(self.pause.held)
        if len(self.seen) == self.fail_at:
            raise RuntimeError("the decision failed")

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        pass


def _live(candles: int) -> BarSource:
    """A live source: ``candles`` more hourly candles after the replay's last close."""

    def source(last_close: Mapping[str, int]) -> Iterator[Bar]:
        first = last_close["BTCUSDT"] + 1
        for i in range(candles):
            t = first + i * HOUR
            yield ("BTCUSDT", t, t + HOUR - 1, 1.0, 1.0, 1.0, 1.0, 1.0)

    return source


def _session(
    trader: _Trader, pause: _Pause, *, throttle_s: float = 0.0, then: BarSource | None = None
) -> TradingSession:
    config = SessionConfig("1h", throttle_s=throttle_s)
    return TradingSession(config, {"BTCUSDT": _frame(24)}, trader, pause=pause, then=then)


def test_a_replay_back_to_back_decides_without_the_pause() -> None:
    pause = _Pause()
    trader = _Trader(pause)
    _session(trader, pause).run()
    assert len(trader.seen) == 24 and not any(trader.seen) and pause.holds == 0


def test_a_paced_replay_decides_every_candle_inside_the_pause() -> None:
    pause = _Pause()
    trader = _Trader(pause)
    _session(trader, pause, throttle_s=0.001).run()
    assert trader.seen == [True] * 24 and pause.holds == 24


def test_the_live_phase_decides_inside_the_pause_after_a_bare_replay() -> None:
    pause = _Pause()
    trader = _Trader(pause)
    _session(trader, pause, then=_live(5)).run()
    assert trader.seen == [False] * 24 + [True] * 5 and pause.holds == 5


def test_a_decision_that_raises_releases_the_pause() -> None:
    pause = _Pause()
    trader = _Trader(pause, fail_at=3)
    with pytest.raises(RuntimeError, match="the decision failed"):
        _session(trader, pause, throttle_s=0.001).run()
    assert trader.seen == [True] * 3 and not pause.held
