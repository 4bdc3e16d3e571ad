"""Paper trading: the same engine on a (replayed) wall clock gives the backtest's trades; the
live candle source, tested offline against fetch_ohlcv responses built from real candles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
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


def _flat(open_times: list[int]) -> pd.DataFrame:
    ones = [1.0] * len(open_times)
    return pd.DataFrame(
        {
            "open_time": open_times,
            "open": ones,
            "high": ones,
            "low": ones,
            "close": ones,
            "volume": ones,
        }
    )


class HoleUntil(RecordedOhlcv):
    """Serves BTCUSDT without its candle opening at ``hole`` for the first ``polls`` asks."""

    def __init__(
        self, frames: dict[str, pd.DataFrame], clock: FakeWall, hole: int, polls: int
    ) -> None:
        super().__init__(frames, clock)
        self.hole, self.polls = hole, polls

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        rows = super().fetch_ohlcv(symbol, timeframe, since, limit)
        if symbol.startswith("BTC/") and self.polls > 0:
            self.polls -= 1
            return [r for r in rows if int(r[0]) != self.hole]
        return rows


def test_a_gapped_symbol_holds_every_symbol_and_all_resume_in_time_order() -> None:
    """A missing candle holds its symbol (no error, nothing of it past the hole) and, since the
    engine has one clock, every other symbol past that time too, within the bound (here eight
    candles: ETHUSDT is four ahead at the first poll); once the exchange serves it, every held
    candle comes once, in time order across the symbols (time never goes back)."""
    clock = FakeWall(6 * HOUR)
    frames = {s: _flat([k * HOUR for k in range(12)]) for s in ("BTCUSDT", "ETHUSDT")}
    client = HoleUntil(frames, clock, hole=2 * HOUR, polls=3)
    source = CcxtCandleSource(
        client,
        ["BTCUSDT", "ETHUSDT"],
        "1h",
        clock,
        sleep=clock.sleep,
        poll_s=3600,
        max_lag_candles=8,
    )
    stream = source({"BTCUSDT": HOUR, "ETHUSDT": HOUR})
    first = [next(stream) for _ in range(2)]  # the first poll: both up to BTC's hole, no further
    assert [(b[0], b[1]) for b in first] == [("BTCUSDT", HOUR), ("ETHUSDT", HOUR)]
    assert source.held == {"BTCUSDT": (2 * HOUR, 3 * HOUR)} and source.gaps == 1
    rest = [next(stream) for _ in range(12)]
    bars = first + rest
    btc = [b[1] for b in bars if b[0] == "BTCUSDT"]
    eth = [b[1] for b in bars if b[0] == "ETHUSDT"]
    assert btc == [k * HOUR for k in range(1, len(btc) + 1)]  # whole, once each, in order
    assert eth == [k * HOUR for k in range(1, len(eth) + 1)]
    assert len(btc) >= 6 and source.held == {} and source.gaps == 1
    assert source.left_behind == {} and source.skipped == source.departures == 0
    closes = [b[2] for b in bars]
    assert closes == sorted(closes)  # ETHUSDT waited: no symbol's candle came after a later one
    # the hole's candle came only after the exchange served it: a poll later, in wall time
    assert rest[0][:2] == ("BTCUSDT", 2 * HOUR) and clock.now() > 6 * HOUR


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
