"""Paper trading: the same engine on a (replayed) wall clock gives the backtest's trades; the
live candle source, tested offline against fetch_ohlcv responses built from real candles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.domain.errors import DataError
from quantum_trader.engine.live_source import CcxtCandleSource, ScaledWallClock, paced
from quantum_trader.engine.session import SessionConfig, TradingSession

HOUR = 3_600_000


class FakeWall:
    """A wall clock that only moves when the code under test sleeps."""

    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t
        self.slept = 0.0

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.t += max(int(seconds * 1000), 1)


@pytest.mark.data
def test_paper_replay_at_speed_trades_like_the_backtest(data_dir: Path) -> None:
    frame = CandleStore(data_dir).load("BTCUSDT", "1h").iloc[-400:].reset_index(drop=True)
    frames = {"BTCUSDT": frame}
    config = SessionConfig("1h", initial_balance=100_000.0)
    backtest = TradingSession(config, frames, SmaCross(SmaCrossConfig(5, 20, 0.1))).run()

    wall = FakeWall()
    clock = ScaledWallClock(int(frame["open_time"].iloc[0]), speed=3600.0, wall=wall)
    paper = TradingSession(
        config,
        frames,
        SmaCross(SmaCrossConfig(5, 20, 0.1)),
        clock=clock,
        source=lambda last: paced(
            TradingSession(config, frames, SmaCross()).feed.bars(), clock, wall.sleep
        ),
    )
    result = paper.run()
    assert len(backtest.trades) > 10
    assert [
        (t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.pnl) for t in result.trades
    ] == [(t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.pnl) for t in backtest.trades]
    assert wall.slept == pytest.approx(400.0, rel=0.01)  # 400 hours at 3600× ≈ 400 s
    assert result.metrics.final_equity == pytest.approx(backtest.metrics.final_equity)


class RecordedOhlcv:
    """Answers fetch_ohlcv like Binance USDT-M via ccxt (rows [open ms, o, h, l, c, v], the
    forming candle included), from real stored candles."""

    def __init__(self, frames: dict[str, pd.DataFrame], clock: FakeWall) -> None:
        self.frames = frames
        self.clock = clock
        self.calls: list[tuple[str, int | None]] = []

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        self.calls.append((symbol, since))
        frame = self.frames[symbol.split("/")[0] + "USDT"]
        rows = frame[
            (frame["open_time"] >= (since or 0)) & (frame["open_time"] <= self.clock.now())
        ]
        return rows.head(limit or 500).to_numpy().tolist()  # type: ignore[no-any-return]


@pytest.mark.data
def test_live_source_yields_closed_candles_once_in_order(data_dir: Path) -> None:
    frames = {
        s: CandleStore(data_dir).load(s, "1h").iloc[-30:].reset_index(drop=True)
        for s in ("BTCUSDT", "ETHUSDT")
    }
    first_open = int(frames["BTCUSDT"]["open_time"].iloc[0])
    clock = FakeWall(first_open + 30 * 60_000)  # half-way through the first candle
    client = RecordedOhlcv(frames, clock)
    source = CcxtCandleSource(
        client, ["ETHUSDT", "BTCUSDT"], "1h", clock, sleep=clock.sleep, poll_s=600, max_candles=20
    )
    bars = list(source({}))
    assert len(bars) == 20
    assert client.calls[0] == ("BTC/USDT:USDT", first_open)
    closes = [(b[2], b[0]) for b in bars]
    assert closes == sorted(closes) and len(set(closes)) == 20
    assert all(b[2] <= clock.t for b in bars)
    first = bars[0]
    row = frames["BTCUSDT"].iloc[0]
    assert first == (
        "BTCUSDT",
        first_open,
        first_open + HOUR,
        row.open,
        row.high,
        row.low,
        row.close,
        row.volume,
    )

    resumed = list(
        CcxtCandleSource(client, ["BTCUSDT"], "1h", clock, sleep=clock.sleep, max_candles=2)(
            {"BTCUSDT": bars[-1][2]}
        )
    )
    assert resumed[0][1] == bars[-1][2]  # continues right after the last processed close


def test_live_source_refuses_a_gap() -> None:
    clock = FakeWall(10 * HOUR)
    frame = pd.DataFrame(
        {
            "open_time": [0, 2 * HOUR],
            "open": [1.0, 1.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, 1.0],
            "volume": [1.0, 1.0],
        }
    )
    source = CcxtCandleSource(
        RecordedOhlcv({"BTCUSDT": frame}, clock), ["BTCUSDT"], "1h", clock, max_candles=2
    )
    with pytest.raises(DataError, match="skip from"):
        list(source({"BTCUSDT": HOUR}))


@pytest.mark.data
def test_live_source_keeps_the_replay_order_while_catching_up(data_dir: Path) -> None:
    """BTCUSDT comes first among candles closing together (other symbols' features read its
    candle), and close times never go back across symbols when their pages end apart."""
    frames = {
        s: CandleStore(data_dir).load(s, "1h").iloc[-40:].reset_index(drop=True)
        for s in ("ADAUSDT", "BTCUSDT")
    }
    first_open = int(frames["BTCUSDT"]["open_time"].iloc[0])
    assert int(frames["ADAUSDT"]["open_time"].iloc[0]) == first_open
    clock = FakeWall(first_open + 40 * HOUR)
    source = CcxtCandleSource(
        RecordedOhlcv(frames, clock),
        ["ADAUSDT", "BTCUSDT"],
        "1h",
        clock,
        sleep=clock.sleep,
        max_candles=40 + 37,
        limit=5,
    )
    # ADAUSDT resumes three candles ahead of BTCUSDT: five-candle pages end at different times
    bars = list(source({"BTCUSDT": first_open, "ADAUSDT": first_open + 3 * HOUR}))
    closes = [b[2] for b in bars]
    assert closes == sorted(closes)
    together = [b[0] for b in bars if b[2] == first_open + 5 * HOUR]
    assert together == ["BTCUSDT", "ADAUSDT"]
