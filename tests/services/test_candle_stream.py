"""The market-data role publishing a replay's candles on a Redis stream, and the engine reading
them there instead of from its own store (``adapters/candle_stream.py``), on real Redis and
PostgreSQL with the role as a real child process:

* the same replay through the stream gives the same orders, fills, trades and equity as the
  single process (2 symbols, 10 days of real 1h candles, SMA crossings with random slippage);
* the market-data process killed with SIGKILL mid-stream and started again: it goes on where
  the stream ends, no candle is on the stream twice, and the engine ends equal; the killed
  process's heartbeat is left UP (to read DOWN), the finished one's STOPPED;
* the engine stopped mid-replay and started again from its checkpoint: the candles it had
  processed are skipped, not processed twice, and it ends equal;
* a lost entry, a repeated candle, another replay's stream are refused, naming where.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import cast

import pandas as pd
import pytest
import redis
from sqlalchemy import Engine

from quantum_trader.adapters.candle_stream import (
    END_TYPE,
    CandleStreamPublisher,
    CandleStreamSource,
    stream_name,
)
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.app.cli.serve import CLI_COMMAND as CLI
from quantum_trader.app.storage import open_settings_database
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.bus import topics
from quantum_trader.bus.envelope import Event
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.domain.errors import DataError
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.status.services import ProcessState, ServiceProcess
from tests.services.conftest import CANDLES, SYMBOLS


def _session(
    frames: Mapping[str, pd.DataFrame],
    *,
    source: Callable[[Mapping[str, int]], Iterator[Bar]] | None = None,
    store: SqlExecutionStore | None = None,
) -> TradingSession:
    """The same run id in every run (order ids carry it); the single process without a store."""
    config = SessionConfig(
        "1h",
        initial_balance=50_000.0,
        exchange=ExchangeConfig(slippage_bps=1.0, random_slippage_bps=5.0, seed=7),
        run_id="r",
    )
    sma = SmaCross(SmaCrossConfig(3, 8, quantities=(("BTCUSDT", 0.05), ("ETHUSDT", 0.5))))
    return TradingSession(config, frames, sma, source=source, store=store)


def _market_data(
    env: dict[str, str], redis_url: str, prefix: str, *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "service", "market-data", "--redis-url", redis_url, "--stream-prefix", prefix,
         *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _length(client: redis.Redis, stream: str) -> int:
    return int(cast(int, client.xlen(stream)))


def _entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))


def _processes() -> list[ServiceProcess]:
    """The market-data processes recorded in the home's database (their heartbeats)."""
    db = open_settings_database(load_storage_settings())
    return [p for p in SqlServiceHealth(db).load_all() if p.role == "market-data"]


def _assert_same(a: SessionResult, b: SessionResult) -> None:
    """Orders, fills, trades and the equity curve equal (ids included); equity to 1e-9."""
    assert b.resumed_from + b.candles == a.candles == CANDLES  # a resumed run: its own part
    assert b.orders == a.orders
    assert b.fills == a.fills
    assert b.trades == a.trades
    assert b.equity_times == a.equity_times
    assert b.equity_values == pytest.approx(a.equity_values, rel=0, abs=1e-9)
    assert b.equity_values[-1] == pytest.approx(a.equity_values[-1], rel=0, abs=1e-9)
    assert b.ledger_digest == a.ledger_digest


@pytest.mark.data
def test_replay_through_the_stream_equals_the_single_process(
    env: dict[str, str], frames: dict[str, pd.DataFrame], redis_url: str, prefix: str,
    client: redis.Redis, postgres_engine: Engine,
) -> None:  # fmt: skip
    single = _session(frames).run()
    assert len(single.trades) >= 10 and {t.symbol for t in single.trades} == set(SYMBOLS)
    child = _market_data(env, redis_url, prefix)
    source = CandleStreamSource(client, prefix, "1h", stall_s=60)
    store = SqlExecutionStore(postgres_engine)
    through = _session(frames, source=source, store=store).run()
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, out
    assert f"market-data: {CANDLES} published, 0 already on the stream" in out
    assert source.ended and (source.read, source.skipped) == (CANDLES, 0)
    _assert_same(single, through)
    (process,) = _processes()
    assert process.pid == child.pid and process.state(WallClock().now()) is ProcessState.STOPPED


@pytest.mark.data
def test_market_data_killed_mid_stream_and_restarted(
    env: dict[str, str], frames: dict[str, pd.DataFrame], redis_url: str, prefix: str,
    client: redis.Redis, postgres_engine: Engine,
) -> None:  # fmt: skip
    single = _session(frames).run()
    stream = stream_name(prefix)
    outputs: list[str] = []
    killed_at: list[int] = []
    pids: list[int] = []

    def kill_and_restart() -> None:
        first = _market_data(env, redis_url, prefix, "--batch", "40", "--pause-s", "0.1")
        pids.append(first.pid)
        while _length(client, stream) < 120 and first.poll() is None:
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at.append(_length(client, stream))
        second = _market_data(env, redis_url, prefix, "--batch", "40")
        pids.append(second.pid)
        outputs.append(second.communicate(timeout=60)[0])

    helper = threading.Thread(target=kill_and_restart)
    helper.start()
    source = CandleStreamSource(client, prefix, "1h", stall_s=60)
    through = _session(frames, source=source, store=SqlExecutionStore(postgres_engine)).run()
    helper.join(timeout=60)
    done = killed_at[0]
    assert 120 <= done < CANDLES, "the first process must die mid-stream, in whole batches"
    assert done % 40 == 0
    assert f"{CANDLES - done} published, {done} already on the stream" in outputs[0]
    entries = _entries(client, stream)
    ids = [Event.from_json(fields[b"event"].decode()).id for _, fields in entries]
    assert len(ids) == CANDLES + 1 and len(set(ids)) == len(ids)  # each candle once, the end
    assert (source.read, source.skipped) == (CANDLES, 0)
    _assert_same(single, through)
    states = {p.pid: p.state(WallClock().now()) for p in _processes()}
    assert states == {pids[0]: ProcessState.UP, pids[1]: ProcessState.STOPPED}  # DOWN in 45 s


class _Stop(Exception):
    pass


def _stopping(
    source: CandleStreamSource, after: int
) -> Callable[[Mapping[str, int]], Iterator[Bar]]:
    def bars(last_close: Mapping[str, int]) -> Iterator[Bar]:
        for i, bar in enumerate(source(last_close)):
            if i == after:
                raise _Stop  # the engine dies between two candles
            yield bar

    return bars


@pytest.mark.data
def test_engine_restarted_skips_the_candles_it_processed(
    frames: dict[str, pd.DataFrame], prefix: str, client: redis.Redis, postgres_engine: Engine
) -> None:
    single = _session(frames).run()
    CandleStreamPublisher(client, prefix).publish(ReplayFeed(frames, "1h"), "1h")
    store = SqlExecutionStore(postgres_engine)
    first = CandleStreamSource(client, prefix, "1h", stall_s=5)
    with pytest.raises(_Stop):
        _session(frames, source=_stopping(first, 301), store=store).run()
    again = CandleStreamSource(client, prefix, "1h", stall_s=5)
    resumed = _session(frames, source=again, store=store).run()
    assert 0 < resumed.resumed_from <= 301 and again.skipped >= 1
    assert resumed.resumed_from + again.read == CANDLES  # none processed twice, none missed
    _assert_same(single, resumed)


@pytest.mark.data
def test_entries_are_the_bus_envelopes_of_the_candle_topic(
    frames: dict[str, pd.DataFrame], prefix: str, client: redis.Redis
) -> None:
    """A bus subscriber of ``market.candle.closed`` reads the entries as candles."""
    feed = ReplayFeed({s: f.iloc[:3] for s, f in frames.items()}, "1h")
    CandleStreamPublisher(client, prefix).publish(feed, "1h")
    entries = _entries(client, stream_name(prefix))
    events = [Event.from_json(fields[b"event"].decode()) for _, fields in entries]
    assert [topics.CANDLE_CLOSED.decode(e.payload) for e in events[:-1]] == list(feed)
    assert [e.id for e in events[:2]] == [f"{s}:1h:{int(frames[s].open_time[0])}" for s in SYMBOLS]
    assert [e.sequence for e in events] == list(range(7)) and events[-1].type == END_TYPE
    assert [i.decode() for i, _ in entries[:2]] == [f"{c.close_time}-{r}" for r, c in
                                                    enumerate(list(feed)[:2])]  # fmt: skip


@pytest.mark.data
def test_a_lost_entry_is_refused(
    frames: dict[str, pd.DataFrame], prefix: str, client: redis.Redis
) -> None:
    CandleStreamPublisher(client, prefix, batch=7).publish(ReplayFeed(frames, "1h"), "1h")
    client.xdel(stream_name(prefix), _entries(client, stream_name(prefix))[10][0])
    source = CandleStreamSource(client, prefix, "1h", stall_s=5)
    with pytest.raises(
        DataError, match=r"entry \d+-\d: sequence 11 where 10 was next: 1 candle\(s\) lost"
    ):
        list(source({}))
    assert source.read == 10


def test_a_repeated_candle_is_refused_naming_symbol_and_times(
    prefix: str, client: redis.Redis
) -> None:
    stream = stream_name(prefix)
    for seq, (entry_id, open_time) in enumerate(
        (("7200000-0", 3_600_000), ("7200000-1", 3_600_000))
    ):
        payload = {"symbol": "BTCUSDT", "timeframe": "1h", "open_time": open_time, "open": 1.0,
                   "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}  # fmt: skip
        event = Event(f"BTCUSDT:1h:{open_time}", topics.CANDLE_CLOSED.name, 0, "t", seq, payload)
        client.xadd(stream, {"event": event.to_json()}, id=entry_id)
    with pytest.raises(
        DataError,
        match=r"entry 7200000-1: BTCUSDT candle closing 1970-01-01T02:00:00Z went backwards or "
        r"repeated, after its candle closing 1970-01-01T02:00:00Z",
    ):
        list(CandleStreamSource(client, prefix, "1h", stall_s=5)({}))


@pytest.mark.data
def test_another_replays_stream_is_refused(
    frames: dict[str, pd.DataFrame], prefix: str, client: redis.Redis
) -> None:
    publisher = CandleStreamPublisher(client, prefix)
    publisher.publish(ReplayFeed({"BTCUSDT": frames["BTCUSDT"]}, "1h"), "1h")
    with pytest.raises(DataError, match="already ends a replay of 240 candles; this one has 480"):
        publisher.publish(ReplayFeed(frames, "1h"), "1h")
    client.delete(stream_name(prefix))
    publisher.publish(ReplayFeed({"ETHUSDT": frames["ETHUSDT"].iloc[:5]}, "1h"), "1h")
    client.xdel(stream_name(prefix), _entries(client, stream_name(prefix))[-1][0])  # the end
    with pytest.raises(DataError, match="which is not this replay's candle there"):
        publisher.publish(ReplayFeed(frames, "1h"), "1h")


@pytest.mark.data
def test_the_engine_refuses_a_stream_of_another_window_naming_both(
    frames: dict[str, pd.DataFrame], prefix: str, client: redis.Redis
) -> None:
    """``for_replay``: what ``service engine --redis-url`` reads (app/run_options.py)."""
    feed, stream = ReplayFeed(frames, "1h"), stream_name(prefix)
    later = ReplayFeed({s: f.iloc[1:] for s, f in frames.items()}, "1h")  # one hour later
    CandleStreamPublisher(client, prefix).publish(later, "1h")
    source = CandleStreamSource(client, prefix, "1h", stall_s=5)
    with pytest.raises(DataError, match="does not carry the replay this engine loaded") as ended:
        list(source.for_replay(feed)({}))
    assert source.read == 0  # refused before the first candle
    text = str(ended.value)
    assert "it ended on another window" in text
    assert "holds BTCUSDT, ETHUSDT 1h: 478 candles closing" in text  # the stream's window
    assert f"replays BTCUSDT, ETHUSDT 1h: {CANDLES} candles closing" in text  # the engine's
    client.xdel(stream, _entries(client, stream)[-1][0])  # not ended: checked candle by candle
    with pytest.raises(DataError, match=r"its candle #0 is BTCUSDT opening \S+ where the engine "
                       r"expects BTCUSDT \S+\): the stream holds 478 entries so far"):  # fmt: skip
        list(CandleStreamSource(client, prefix, "1h", stall_s=5).for_replay(feed)({}))
    client.delete(stream)
    CandleStreamPublisher(client, prefix).publish(feed, "1h")
    assert list(CandleStreamSource(client, prefix, "1h").for_replay(feed)({})) == list(feed.bars())
