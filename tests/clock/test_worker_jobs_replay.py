"""A replay with a simulated asynchronous retraining gives identical trades run after run.

A breakout strategy trades when a candle's return clears its threshold; a daily "retraining"
job prepares the strategy's recent returns, computes a new threshold in a worker (after a random
pause, so the worker's speed differs run to run), and applies it 30 simulated minutes later.
Issue 15's acceptance: the trades do not depend on the worker's speed, nor on thread vs process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantum_trader.clock import (
    ProcessWorker,
    Scheduler,
    SimulatedClock,
    ThreadWorker,
    Worker,
    WorkerTask,
)
from quantum_trader.domain.orders import Side
from quantum_trader.domain.time import MS_PER_MINUTE
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.engine.trader import TradingContext
from tests.clock.worker_tasks import slow_quantile

HOUR = 60 * MS_PER_MINUTE
DAY = 24 * HOUR
SYMBOL = "BTCUSDT"


class Breakout:
    """Long after a return above ``threshold``, flat after one below ``-threshold``."""

    name = "breakout"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.returns: list[float] = []
        self._last: float | None = None
        self._long = False
        self._ctx: TradingContext | None = None

    def bind(self, context: TradingContext) -> None:
        self._ctx = context

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        assert self._ctx is not None
        if self._last is not None:
            r = c / self._last - 1.0
            self.returns.append(r)
            if not self._long and r > self.threshold:
                self._ctx.orders.submit(symbol, Side.BUY, 0.1)
                self._long = True
            elif self._long and r < -self.threshold:
                self._ctx.orders.submit(symbol, Side.SELL, 0.1, reduce_only=True)
                self._long = False
        self._last = c

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        raise AssertionError("not resumed in this test")


def _frames(n: int = 24 * 60) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(11)
    vol = np.repeat(rng.uniform(0.002, 0.02, n // 48 + 1), 48)[:n]  # volatility regimes
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, vol)))
    opens = np.concatenate([[30_000.0], close[:-1]])
    frame = pd.DataFrame(
        {
            "open_time": np.arange(n, dtype=np.int64) * HOUR + 1_700_000_000_000 // HOUR * HOUR,
            "open": opens,
            "high": np.maximum(opens, close) * 1.001,
            "low": np.minimum(opens, close) * 0.999,
            "close": close,
            "volume": np.full(n, 10.0),
        }
    )
    return {SYMBOL: frame}


def _run(
    frames: dict[str, pd.DataFrame], worker: Worker | None
) -> tuple[SessionResult, list[tuple[int, float]]]:
    first_open = int(frames[SYMBOL]["open_time"].iloc[0])
    clock = SimulatedClock(first_open)
    scheduler = Scheduler(clock)
    strategy = Breakout(threshold=0.01)
    landed: list[tuple[int, float]] = []

    def apply(threshold: float, landed_at: int) -> None:
        assert clock.now() >= landed_at
        strategy.threshold = threshold
        landed.append((landed_at, threshold))

    if worker is not None:
        task = WorkerTask(lambda t: tuple(strategy.returns[-96:]), slow_quantile, apply)
        scheduler.every_in_worker(
            "retrain", DAY, task, worker=worker, delay_ms=30 * MS_PER_MINUTE, start_at=first_open
        )
    config = SessionConfig("1h", initial_balance=100_000.0)
    runner = TradingSession(config, frames, strategy, clock=clock, scheduler=scheduler)
    return runner.run(), landed


def test_a_replay_with_an_asynchronous_retraining_trades_the_same_every_run() -> None:
    frames = _frames()
    threads = ThreadWorker("retrain")
    try:
        a, landed_a = _run(frames, threads)
    finally:
        threads.shutdown()
    with ProcessWorker("retrain") as process:
        b, landed_b = _run(frames, process)
    plain, _ = _run(frames, None)

    assert len(landed_a) == 60 and landed_a == landed_b
    assert len(a.trades) > 20
    assert a.trades == b.trades
    assert a.event_log_hash == b.event_log_hash and a.ledger_digest == b.ledger_digest
    assert a.metrics == b.metrics
    assert a.trades != plain.trades  # the retraining changes what the strategy does
