"""The live candle source's bounded wait (issue 22): a symbol whose feed is held (a skipped
candle) or stale holds the others back for at most ``max_lag_candles``; past it the symbol is
left behind, the others go on in time order, and it rejoins at the frontier with the candles it
missed counted — in the source's figures, the log and the market-data module's status."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import structlog

from quantum_trader.app.live import LiveConnection
from quantum_trader.clock import ReplayThenWallClock, Scheduler
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.live_phase import LivePhase
from quantum_trader.engine.live_source import CcxtCandleSource
from quantum_trader.status.registry import StatusRegistry

HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR  # the close of the last candle processed before
SYMBOLS = ("BTCUSDT", "ETHUSDT")
#: served(symbol, open_time, now): whether the exchange gives that candle at wall time ``now``
Served = Callable[[str, int, int], bool]


class FakeWall:
    """A wall clock that moves only when the code under test sleeps."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += int(seconds * 1000)
        if self.t > T0 + 48 * HOUR:  # a stalled source fails the test instead of hanging it
            raise AssertionError("no candle for two days of wall time: the source stalled")


class Exchange:
    """fetch_ohlcv over hourly candles from T0 - 2 h, forming candle included, as ccxt answers
    Binance USDT-M; ``served`` takes candles out. Each candle's close is its own: symbol's rank
    × 1000 + hours since T0, so a test can tell any two apart."""

    def __init__(self, wall: FakeWall, served: Served | None = None) -> None:
        self.wall = wall
        self.served = served or (lambda _s, _o, _now: True)
        self.fail_at: int | None = None  # the wall time of one dropped connection

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        assert timeframe == "1h"
        now = self.wall.now()
        if self.fail_at is not None and now >= self.fail_at:
            self.fail_at = None
            raise ConnectionResetError("connection reset by peer")
        name = symbol.split("/")[0] + "USDT"
        first = max(since or 0, T0 - 2 * HOUR)
        rows = []
        for open_time in range(first, now + 1, HOUR):
            if self.served(name, open_time, now):
                price = SYMBOLS.index(name) * 1000.0 + (open_time - T0) / HOUR + 100.0
                rows.append([open_time, price, price, price, price, 1.0])
        return rows[: limit or 500]


def _source(wall: FakeWall, exchange: Exchange, **options: Any) -> CcxtCandleSource:
    return CcxtCandleSource(
        exchange, list(SYMBOLS), "1h", wall, sleep=wall.sleep, poll_s=600.0, **options
    )


def _until(stream: Iterator[Bar], wall: FakeWall, end: int) -> list[tuple[Bar, int]]:
    """The candles closing by ``end``, each with the wall time it was yielded at."""
    out: list[tuple[Bar, int]] = []
    for bar in stream:
        if bar[2] > end:
            return out
        out.append((bar, wall.now()))
    raise AssertionError("the source ended")


def _opens(got: list[tuple[Bar, int]], symbol: str) -> list[int]:
    return [(bar[1] - T0) // HOUR for bar, _ in got if bar[0] == symbol]


def _assert_time_order(got: list[tuple[Bar, int]]) -> None:
    """The one engine clock never goes back, and no candle comes before it closed."""
    closes = [bar[2] for bar, _ in got]
    assert closes == sorted(closes)
    assert all(bar[2] <= at for bar, at in got)
    for symbol in SYMBOLS:  # each candle once
        opens = _opens(got, symbol)
        assert opens == sorted(set(opens))
    # with its own values
    assert all(b[6] == SYMBOLS.index(b[0]) * 1000 + (b[1] - T0) / HOUR + 100 for b, _ in got)


def test_a_hole_shorter_than_the_bound_holds_everyone_and_loses_nothing() -> None:
    # BTCUSDT's candle opening at T0 + 3 h is served two hours late: one candle short of the
    # bound of three, so ETHUSDT waits and every candle comes, once, in time order
    wall = FakeWall(T0 + 1)
    exchange = Exchange(
        wall,
        lambda s, o, now: not (s == "BTCUSDT" and o == T0 + 3 * HOUR) or now >= T0 + 6 * HOUR + 1,
    )
    source = _source(wall, exchange, max_lag_candles=3)
    got = _until(source({}), wall, T0 + 10 * HOUR)
    _assert_time_order(got)
    assert _opens(got, "BTCUSDT") == _opens(got, "ETHUSDT") == list(range(10))
    assert source.gaps == 1 and source.held == {} and source.left_behind == {}
    assert source.skipped == source.departures == 0
    # nothing after the hole came before the exchange served it
    late = [at for bar, at in got if bar[2] > T0 + 4 * HOUR and at < T0 + 6 * HOUR]
    assert late == []


def test_a_symbol_that_never_recovers_holds_the_others_only_up_to_the_bound() -> None:
    # BTCUSDT's feed serves nothing opening at T0 + 3 h or later, ever
    wall = FakeWall(T0 + 1)
    exchange = Exchange(wall, lambda s, o, _now: s != "BTCUSDT" or o < T0 + 3 * HOUR)
    source = _source(wall, exchange, max_lag_candles=2)
    with structlog.testing.capture_logs() as logs:
        got = _until(source({}), wall, T0 + 20 * HOUR)
    _assert_time_order(got)
    assert _opens(got, "BTCUSDT") == [0, 1, 2]
    assert _opens(got, "ETHUSDT") == list(range(20))  # ETHUSDT goes on, every candle once
    # ETHUSDT waited at BTCUSDT's last close for two candles, not more: past it, each of its
    # candles comes within the poll after its close
    last_btc = T0 + 3 * HOUR
    waited = [at - bar[2] for bar, at in got if bar[0] == "ETHUSDT" and bar[2] > last_btc]
    assert max(waited) > 2 * HOUR  # it did wait ...
    assert max(waited) <= 2 * HOUR + 600_000  # ... for the bound, and a poll
    assert all(w <= 600_000 for w in waited[3:])
    assert source.left_behind == {"BTCUSDT": last_btc} and source.departures == 1
    # what closed by the frontier can never come: counted as skipped (up to the last poll)
    assert 0 < source.skipped == source.skipped_by["BTCUSDT"] <= (got[-1][0][2] - last_btc) // HOUR
    events = [e["event"] for e in logs if e["event"].startswith("live.feed")]
    assert events == ["live.feed_left_behind"]  # one warning, not one per poll


def test_a_left_behind_symbol_rejoins_at_the_frontier_with_its_skipped_candles_counted() -> None:
    # BTCUSDT's feed is stale (answers, nothing new) from T0 + 3 h until wall time T0 + 9 h;
    # then the exchange serves everything again, its late candles included
    wall = FakeWall(T0 + 1)
    back = T0 + 9 * HOUR
    exchange = Exchange(wall, lambda s, o, now: s != "BTCUSDT" or o < T0 + 2 * HOUR or now >= back)
    registry = StatusRegistry(wall)
    status = registry.register("market_data", enabled=True, reason="candles")
    kept: list[Bar] = []
    source = _source(wall, exchange, max_lag_candles=2, status=status, on_late=kept.extend)
    with structlog.testing.capture_logs() as logs:
        got = _until(source({}), wall, T0 + 14 * HOUR)
    _assert_time_order(got)
    btc = _opens(got, "BTCUSDT")
    assert _opens(got, "ETHUSDT") == list(range(14))
    # BTCUSDT's late candles that closed by the frontier never came; it rejoined right after it
    back_at = next(at for bar, at in got if bar[0] == "BTCUSDT" and bar[1] >= T0 + 2 * HOUR)
    frontier = max(bar[2] for bar, at in got if at < back_at)
    first_back = (frontier - T0) // HOUR
    assert btc == [0, 1, *range(first_back, 14)]
    assert first_back > 2  # some were skipped
    assert source.skipped == source.skipped_by["BTCUSDT"] == first_back - 2
    assert source.left_behind == {} and source.held == {} and source.departures == 1
    rejoined = [e for e in logs if e["event"] == "live.feed_rejoined"]
    assert len(rejoined) == 1 and rejoined[0]["skipped_in_all"] == first_back - 2
    assert [e["log_level"] for e in logs if e["event"] == "live.feed_left_behind"] == ["warning"]
    # the skipped candles, served late, are handed on to be kept (never yielded): each once,
    # in order, with its own values
    assert [(b[0], (b[1] - T0) // HOUR) for b in kept] == [
        ("BTCUSDT", k) for k in range(2, first_back)
    ]
    assert all(b[6] == (b[1] - T0) / HOUR + 100 and b[2] == b[1] + HOUR for b in kept)
    assert source.kept_late == first_back - 2
    # the figures reach the market-data module's status
    assert status.status.counters == {
        "live_feed_gaps": 0,
        "live_feed_symbols_held": 0,
        "live_feed_left_behind": 1,
        "live_feed_symbols_left_behind": 0,
        "live_feed_candles_skipped": first_back - 2,
        "live_feed_candles_kept_late": first_back - 2,
    }


def test_a_permanent_hole_costs_the_symbol_that_candle_only() -> None:
    # BTCUSDT's candle opening at T0 + 3 h is never served, the later ones are: past the bound
    # the symbol is left behind and goes on over its hole in the same poll, in time order
    wall = FakeWall(T0 + 1)
    exchange = Exchange(wall, lambda s, o, _now: not (s == "BTCUSDT" and o == T0 + 3 * HOUR))
    kept: list[Bar] = []
    source = _source(wall, exchange, max_lag_candles=2, on_late=kept.extend)
    got = _until(source({}), wall, T0 + 12 * HOUR)
    _assert_time_order(got)
    assert _opens(got, "BTCUSDT") == [k for k in range(12) if k != 3]
    assert _opens(got, "ETHUSDT") == list(range(12))
    assert source.gaps == source.departures == source.skipped == 1
    assert source.held == {} and source.left_behind == {}
    assert kept == [] and source.kept_late == 0  # never served: nothing to keep


def test_a_stale_feed_of_every_symbol_leaves_nobody_behind() -> None:
    # the whole feed is stale for eight hours: nobody is ahead, so everyone waits, and every
    # late candle comes once in time order when it resumes (the stale-data rule's business)
    wall = FakeWall(T0 + 1)
    exchange = Exchange(wall, lambda _s, o, now: o < T0 + 2 * HOUR or now >= T0 + 10 * HOUR)
    source = _source(wall, exchange, max_lag_candles=2)
    got = _until(source({}), wall, T0 + 12 * HOUR)
    _assert_time_order(got)
    assert _opens(got, "BTCUSDT") == _opens(got, "ETHUSDT") == list(range(12))
    assert source.departures == source.skipped == 0


def test_the_live_phase_publishes_the_feed_figures_and_a_retry_counts_no_skip_twice() -> None:
    # BTCUSDT never serves past T0 + 3 h; the connection drops once while it is left behind:
    # the phase resumes after its last candle, and the skipped candles are counted once
    wall = FakeWall(T0 + 1)
    exchange = Exchange(wall, lambda s, o, _now: s != "BTCUSDT" or o < T0 + 3 * HOUR)
    exchange.fail_at = T0 + 8 * HOUR
    registry = StatusRegistry(wall)
    market_data = registry.register("market_data", enabled=True, reason="candles")
    phase = LivePhase(
        ReplayThenWallClock(T0 - HOUR, wall),
        Scheduler(),
        list(SYMBOLS),
        "1h",
        LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
        poll_s=600.0,
        max_candles=3 + 16,
        market_data=market_data,
    )
    bars = list(phase({s: T0 for s in SYMBOLS}))
    assert phase.report.network_retries == 1 and phase.report.state == "ended (max candles)"
    assert [b[1] for b in bars if b[0] == "BTCUSDT"] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    eth = [b[1] for b in bars if b[0] == "ETHUSDT"]
    assert eth == [T0 + k * HOUR for k in range(16)]
    counters = market_data.status.counters
    # BTCUSDT's cursor is at the frontier of the poll that gave the last batch: every candle
    # from its last close up to there was skipped, once
    frontier_before_last_poll = max(b[2] for b in bars if b[2] < bars[-1][2])
    assert (
        counters["live_feed_candles_skipped"]
        == (frontier_before_last_poll - (T0 + 3 * HOUR)) // HOUR
    )
    assert counters["live_feed_symbols_left_behind"] == counters["live_feed_left_behind"] == 1
    assert counters["live_feed_gaps"] == counters["live_feed_symbols_held"] == 0


def test_a_hole_after_rejoining_is_a_new_hole_waited_on_within_the_bound() -> None:
    # BTCUSDT is stale from T0 + 3 h until wall time T0 + 9 h, and its candle opening at
    # T0 + 11 h is never served: it rejoins at the frontier, is held at the new hole (ETHUSDT
    # waits two candles again), then is left behind a second time and goes on over the hole
    wall = FakeWall(T0 + 1)
    back = T0 + 9 * HOUR

    def served(s: str, o: int, now: int) -> bool:
        return s != "BTCUSDT" or ((o < T0 + 3 * HOUR or now >= back) and o != T0 + 11 * HOUR)

    source = _source(wall, Exchange(wall, served), max_lag_candles=2)
    got = _until(source({}), wall, T0 + 16 * HOUR)
    _assert_time_order(got)
    assert _opens(got, "ETHUSDT") == list(range(16))
    assert _opens(got, "BTCUSDT") == [0, 1, 2, 8, 9, 10, *range(12, 16)]
    assert source.gaps == 1 and source.departures == 2
    assert source.skipped == source.skipped_by["BTCUSDT"] == 5 + 1
    assert source.left_behind == {} and source.held == {}
    # within the bound ETHUSDT waited at the new hole: its candle closing at T0 + 12 h came
    # only when BTCUSDT was left behind again, two hours after it closed
    twelve = next(at for bar, at in got if bar[0] == "ETHUSDT" and bar[2] == T0 + 12 * HOUR)
    assert twelve - (T0 + 12 * HOUR) == 2 * HOUR + 1


def test_each_rejoin_after_skipped_candles_is_told_before_its_first_candle_comes() -> None:
    # the scenario above: BTCUSDT rejoins after 5 skipped candles (stale), then after 1 (the
    # hole at T0 + 11 h); the hook hears each rejoin, with what that absence skipped, before
    # the symbol's first candle after the hole is yielded (the risk engine holds its entries
    # there: engine/live_phase.py hold_entries_on_rejoin)
    wall = FakeWall(T0 + 1)
    back = T0 + 9 * HOUR

    def served(s: str, o: int, now: int) -> bool:
        return s != "BTCUSDT" or ((o < T0 + 3 * HOUR or now >= back) and o != T0 + 11 * HOUR)

    told: list[tuple[str, int, int, int]] = []
    got: list[tuple[Bar, int]] = []

    def on_rejoin(symbol: str, since: int, skipped: int) -> None:
        yielded = [b[1] for b, _ in got if b[0] == symbol]
        told.append((symbol, (since - T0) // HOUR, skipped, max(yielded) // HOUR - T0 // HOUR))

    source = _source(wall, Exchange(wall, served), max_lag_candles=2, on_rejoin=on_rejoin)
    for bar in source({}):
        if bar[2] > T0 + 16 * HOUR:
            break
        got.append((bar, wall.now()))
    # (symbol, its first candle after the hole, skipped, its last candle yielded before)
    assert told == [("BTCUSDT", 8, 5, 2), ("BTCUSDT", 12, 1, 10)]


def test_a_hole_served_within_the_bound_skips_nothing_and_tells_no_rejoin() -> None:
    wall = FakeWall(T0 + 1)
    exchange = Exchange(
        wall,
        lambda s, o, now: not (s == "BTCUSDT" and o == T0 + 3 * HOUR) or now >= T0 + 6 * HOUR + 1,
    )
    told: list[tuple[str, int, int]] = []
    source = _source(
        wall, exchange, max_lag_candles=3, on_rejoin=lambda *a: told.append((a[0], a[1], a[2]))
    )
    got = _until(source({}), wall, T0 + 10 * HOUR)
    assert len(got) == 20 and source.skipped == 0 and told == []
