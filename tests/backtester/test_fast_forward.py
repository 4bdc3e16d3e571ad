"""Fast-forward (``Engine.run_columns`` handing quiet candles over in bulk) gives exactly the
per-candle result: the same trades, ledger digest, equity curve, metrics and event-log hash,
on real data, with funding and liquidation on; and it checkpoints and resumes the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.engine.engine import BarColumns
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.store import ExecutionStore


class _CountingSma(SmaCross):
    """SmaCross that counts the candles it saw one at a time."""

    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.per_candle_calls = 0

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
        self.per_candle_calls += 1
        super().on_bar(symbol, open_time, close_time, o, h, lo, c, v)


def _run(
    frame: pd.DataFrame,
    sma: SmaCrossConfig,
    data_dir: Path,
    *,
    fast_forward: bool,
    exchange: ExchangeConfig | None = None,
    store: ExecutionStore | None = None,
    checkpoint_every: int = 1000,
) -> tuple[TradingSession, SessionResult]:
    config = SessionConfig(
        "5m",
        initial_balance=20_000.0,
        exchange=exchange or ExchangeConfig(),
        fast_forward=fast_forward,
        checkpoint_every=checkpoint_every,
    )
    runner = TradingSession(
        config,
        {"BTCUSDT": frame},
        _CountingSma(sma),
        funding_rates={"BTCUSDT": CandleStore(data_dir).funding_rates("BTCUSDT")},
        store=store,
    )
    return runner, runner.run()


def _assert_same(a: SessionResult, b: SessionResult) -> None:
    assert a.trades == b.trades
    assert a.equity_times == b.equity_times
    assert a.equity_values == b.equity_values  # bit-identical floats
    assert a.ledger_digest == b.ledger_digest
    assert a.event_log_hash == b.event_log_hash
    assert repr(a.metrics) == repr(b.metrics)  # NaN-safe (no trades: NaN ratios)
    assert a.fills == b.fills
    assert a.orders == b.orders
    assert a.candles == b.candles


@pytest.fixture(scope="module")
def frame(data_dir: Path) -> pd.DataFrame:
    # 4,000 5m candles (~2 weeks): the first of the recorded series
    return CandleStore(data_dir).load("BTCUSDT", "5m").iloc[:4000].reset_index(drop=True)


@pytest.mark.data
@pytest.mark.parametrize(
    ("sma", "exchange"),
    [
        (SmaCrossConfig(10, 30, quantity=0.1), None),
        # high leverage: liquidations happen (checked below), funding is paid on real rates
        (SmaCrossConfig(20, 60, quantity=0.5, leverage=60.0), ExchangeConfig(liquidation=True)),
        (
            SmaCrossConfig(7, 25, quantity=0.2, long_only=True, resum_every=97),
            ExchangeConfig(slippage_bps=1.0, random_slippage_bps=3.0, seed=3),
        ),
    ],
)
def test_fast_forward_equals_per_candle(
    frame: pd.DataFrame, data_dir: Path, sma: SmaCrossConfig, exchange: ExchangeConfig | None
) -> None:
    per_candle_runner, per_candle = _run(
        frame, sma, data_dir, fast_forward=False, exchange=exchange
    )
    fast_runner, fast = _run(frame, sma, data_dir, fast_forward=True, exchange=exchange)
    assert len(per_candle.trades) > 20
    assert per_candle_runner.exchange.funding_payments > 0
    if sma.leverage > 50:
        assert per_candle.metrics.liquidations > 0
    _assert_same(per_candle, fast)
    assert (
        fast_runner.exchange.funding_settlements == per_candle_runner.exchange.funding_settlements
    )
    assert fast_runner.exchange.funding_payments == per_candle_runner.exchange.funding_payments
    assert fast_runner.trader.state() == per_candle_runner.trader.state()
    assert fast_runner.portfolio.snapshot() == per_candle_runner.portfolio.snapshot()


class _Stop(Exception):
    pass


@pytest.mark.data
def test_fast_forward_checkpoints_resume_like_per_candle(
    frame: pd.DataFrame, data_dir: Path, sqlite_engine: Engine
) -> None:
    """Interrupted mid-run with fast-forward on, resumed on the same database: the result is
    the uninterrupted per-candle one."""
    sma = SmaCrossConfig(10, 30, quantity=0.1, leverage=20.0)
    _, reference = _run(frame, sma, data_dir, fast_forward=False, checkpoint_every=300)
    store = SqlExecutionStore(sqlite_engine)
    config = SessionConfig("5m", initial_balance=20_000.0, checkpoint_every=300)
    funding = {"BTCUSDT": CandleStore(data_dir).funding_rates("BTCUSDT")}

    def stop_halfway(done: list[int]) -> object:
        def progress(n: int) -> None:
            done.append(n)
            if sum(done) >= 2000:
                raise _Stop

        return progress

    first = TradingSession(
        config, {"BTCUSDT": frame}, SmaCross(sma), funding_rates=funding, store=store
    )
    with pytest.raises(_Stop):
        first.run(progress=stop_halfway([]), progress_every=256)  # type: ignore[arg-type]
    resumed = TradingSession(
        config, {"BTCUSDT": frame}, SmaCross(sma), funding_rates=funding, store=store
    ).run()
    assert 0 < resumed.resumed_from < len(frame)
    assert resumed.trades == reference.trades
    assert resumed.ledger_digest == reference.ledger_digest
    assert resumed.event_log_hash == reference.event_log_hash
    assert resumed.equity_values == reference.equity_values


def test_skipped_stretches_are_exact_on_synthetic_ties() -> None:
    """Flat prices make the means tie exactly; the plan must agree with the per-candle
    arithmetic there too (no crossover, no order)."""
    n = 600
    close = np.concatenate([np.full(200, 100.0), np.linspace(100, 120, 200), np.full(200, 110.0)])
    open_time = np.arange(n, dtype=np.int64) * 300_000
    frame = pd.DataFrame(
        {
            "open_time": open_time,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.ones(n),
        }
    )
    results = []
    for ff in (False, True):
        runner = TradingSession(
            SessionConfig("5m", initial_balance=10_000.0, fast_forward=ff),
            {"BTCUSDT": frame},
            SmaCross(SmaCrossConfig(5, 20, quantity=0.01, resum_every=50)),
        )
        results.append((runner.run(), runner.trader.state()))
    (a, sa), (b, sb) = results
    _assert_same(a, b)
    assert sa == sb


def test_bar_columns_rows_match_the_scalar_stream() -> None:
    times = np.array([0, 300_000], dtype=np.int64)
    values = np.array([1.0, 2.0])
    cols = BarColumns("X", times, times + 300_000, values, values, values, values, values)
    assert list(cols.bars(1)) == [("X", 300_000, 600_000, 2.0, 2.0, 2.0, 2.0, 2.0)]
