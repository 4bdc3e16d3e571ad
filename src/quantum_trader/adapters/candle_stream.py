"""A replay's closed candles over one Redis stream: the market-data role publishes them, the
engine reads them as its candle source (``engine/session.py``: ``BarSource``).

The stream is ``<prefix>:market.candle.closed``, the stream the bus over Redis Streams uses for
that topic, and each entry carries the bus's envelope in its ``event`` field (a subscriber of
``topics.CANDLE_CLOSED`` reads it as a :class:`~quantum_trader.domain.market.Candle`):

* the envelope's ``id`` is the candle's, ``SYMBOL:TIMEFRAME:OPEN_TIME``, and its ``sequence``
  the candle's place in the replay (0, 1, 2 …), so a reader sees a lost entry as a gap;
* the entry's stream id is ``CLOSE_TIME-RANK`` (RANK: the symbol's place among those closing
  together, ``ReplayFeed.symbols``), so the stream's order is the engine's order (close time,
  then symbol) and Redis itself refuses an entry out of that order;
* after the last candle an end-of-stream entry (type ``market.candle.end``) whose ``sequence``
  is the replay's candle count.

The main job reads it through :meth:`CandleStreamSource.for_replay` (``service engine
--redis-url``), which refuses a stream of another window than the engine's.

Why not :class:`RedisStreamsBus` itself (its ``publish_many``, consumer groups): it numbers
entries with ids of its own (``*``) and events with a sequence shared by every topic, so a
restarted publisher would append the same candle again under a new id; and a consumer group
acknowledges an entry when its handler returns, while the engine's position is its last
checkpoint (``Engine.last_close``, in the database), which a restarted engine resumes from. So
the publisher gives each entry a deterministic id (a candle appended twice is refused by
Redis, atomically in one script per batch) and the reader reads with ``XREAD`` from its last
close; both over redis-py, as the bus does.

**Redis restarted** (it keeps nothing on disk here, so the stream is gone): both sides notice it
from the server's ``run_id`` (``INFO server``; random at each start of the server), since a
quick restart does not even raise in redis-py, which reconnects by itself. The publisher needs
no such check: it marks the stream whole (``whole_key``) when it starts it, and its appends are
refused, atomically, once the mark is gone with the restart, so no stream that starts mid-replay
is ever visible; it then publishes again from the first candle, from its own source of truth,
the store, and, once it ended the stream, goes on doing so as long as it follows (``follow``:
until a reader has read that end). The reader checks it at most once a second and on every
empty read; on a change it logs what it had read (its cursor) and goes on reading after that
cursor: the deterministic ids make the entries published again at or before it invisible to it,
and those after it the same candles, with the same sequence numbers, as before the restart. The
engine's own position is its checkpoint in the database, which Redis never held. What cannot be
recovered is said, not guessed: a reader whose publisher does not publish again stops after
``stall_s`` with an error naming the restart and the last entry it read.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from quantum_trader.adapters.redis_keys import key_prefix
from quantum_trader.bus import topics
from quantum_trader.bus.codec import topic
from quantum_trader.bus.envelope import Event
from quantum_trader.bus.typed import record_of
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: the topic (and stream name after the prefix) of the candles
CANDLE_TOPIC = topics.CANDLE_CLOSED.name
#: the type of the end-of-stream entry
END_TYPE = "market.candle.end"


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The end-of-stream entry's record: the replay the stream carried."""

    candles: int
    symbols: tuple[str, ...]
    timeframe: str


STREAM_END = topic(END_TYPE, StreamEnd)
SOURCE = "market-data"
_MAX_SEQ = 2**64 - 1

#: Appends each (id, event) pair whose id is above the stream's last entry; returns how many
#: were appended. Ids at or below the last (a batch published again after a restart) are
#: skipped; any other error stops the script. One script call: a batch is appended whole.
#: Returns -1 without appending when the stream's "whole" mark (KEYS[2]) is gone: Redis
#: restarted and lost the stream's head, and a batch appended now would leave a stream that
#: starts mid-replay (its entries refuse the lost ones, which have lower ids).
_APPEND = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local appended = 0
for i = 1, #ARGV, 2 do
  local reply = redis.pcall('XADD', KEYS[1], ARGV[i], 'event', ARGV[i + 1])
  if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'equal or smaller', 1, true) then
      return redis.error_reply(reply.err)
    end
  else
    appended = appended + 1
  end
end
return appended
"""

#: Marks the stream whole if it (still) exists: 1 if so, else 0.
_MARK_WHOLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], 1)
return 1
"""


def stream_name(prefix: str) -> str:
    return f"{key_prefix(prefix)}:{CANDLE_TOPIC}"


def whole_key(stream: str) -> str:
    """The mark a publisher sets when the stream holds the replay from its first candle; a
    Redis restart loses it with the stream, and appends wait for it (``_APPEND``)."""
    return f"{stream}:whole"


def end_read_key(stream: str) -> str:
    """The key a reader sets when it has read the stream's end entry (a following publisher
    stops there)."""
    return f"{stream}:end-read"


def server_id(client: redis.Redis) -> str:
    """The Redis server's ``run_id``: random at every start of the server, so a new one means
    it restarted (and, keeping nothing on disk, lost every stream)."""
    info: Any = client.info("server")
    return str(info["run_id"])


def candle_id(symbol: str, timeframe: str, open_time: int) -> str:
    """The candle's idempotent id.

    >>> candle_id("BTCUSDT", "1h", 0)
    'BTCUSDT:1h:0'
    """
    return f"{symbol}:{timeframe}:{open_time}"


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What one run of the publisher did."""

    stream: str
    candles: int  # in the replay
    resumed_after: int  # already on the stream when it started
    published: int  # appended by this run (again, after a Redis restart)
    elapsed_s: float
    redis_restarts: int = 0  # Redis restarts seen while publishing (each: published again)


class CandleStreamPublisher:
    """Publishes a replay (``ReplayFeed``) on the stream, from where the stream left off.

    Started again after a crash, it reads the stream's last entry, checks that it is this
    replay's candle at that place (another replay's stream is refused), and goes on after it.
    ``pause_s``: real seconds between batches (a paced replay: demos, the crash tests).
    ``unreachable_s``: how long a dropped connection is waited for before its error is raised.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        batch: int = 500,
        pause_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        unreachable_s: float = 60.0,
    ) -> None:
        if batch <= 0 or pause_s < 0:
            raise ValueError(f"batch must be > 0 and pause_s >= 0, got {batch}, {pause_s}")
        self._redis = client
        self.stream = stream_name(prefix)
        self._batch = batch
        self._pause_s = pause_s
        self._sleep = sleep
        self._unreachable_s = unreachable_s
        self._appended = 0  # candles appended by this publisher, over all its calls
        self._append = client.register_script(_APPEND)
        self._mark_whole = client.register_script(_MARK_WHOLE)

    def publish(
        self, feed: ReplayFeed, timeframe: str, on_batch: Callable[[int], None] | None = None
    ) -> PublishReport:
        """``on_batch``: told after each append how many of the replay's candles the stream
        holds now (progress while a long replay is published)."""
        started = time.perf_counter()
        rank = {s: r for r, s in enumerate(feed.symbols)}
        bars = list(feed.bars())
        if not bars:
            raise DataError(f"{self.stream}: the replay has no candle to publish")
        keys = [(close, rank[symbol]) for symbol, _, close, *_ in bars]
        last_close = keys[-1][0]
        record = StreamEnd(len(bars), tuple(feed.symbols), timeframe)
        end = Event(f"end:{timeframe}", END_TYPE, last_close, SOURCE, len(bars),
                    STREAM_END.encode(record))  # fmt: skip
        end_entry = (f"{last_close}-{len(rank)}", end.to_json())
        self._redis.delete(end_read_key(self.stream))  # a reader reads this end anew
        resumed = start = self._resume(bars, keys, timeframe)
        before, restarts = self._appended, 0
        while True:
            try:
                whole = self._append_from(start, bars, keys, timeframe, end_entry, on_batch)
            except redis.ConnectionError as exc:  # Redis restarting, or the connection dropped
                self._wait_for_redis(exc)
                continue  # the same appends again: entries the stream holds are skipped
            if whole:
                break
            restarts += 1
            start = self._resume(bars, keys, timeframe)
            log.warning("candle_stream.redis_restarted", stream=self.stream, side="publisher",
                        server=server_id(self._redis), published_again_from=start)  # fmt: skip
        elapsed = time.perf_counter() - started
        published = self._appended - before
        return PublishReport(self.stream, len(bars), resumed, published, elapsed, restarts)

    def _wait_for_redis(self, error: redis.ConnectionError) -> None:
        """Wait until Redis answers again (a restart refuses or resets connections for a
        moment); raise ``error`` if it does not within ``unreachable_s``."""
        log.warning("candle_stream.redis_unreachable", stream=self.stream, side="publisher",
                    error=str(error))  # fmt: skip
        deadline = time.monotonic() + self._unreachable_s
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                self._redis.ping()
                return
            except redis.ConnectionError:
                continue
        raise error

    def follow(
        self, feed: ReplayFeed, timeframe: str, *, poll_s: float = 1.0, max_s: float | None = None
    ) -> int:
        """After :meth:`publish`: keep the stream whole until a reader has read its end entry
        (``end_read_key``), publishing it again when Redis restarted meanwhile (or the stream
        lost its end); a Redis that does not answer is waited for. Returns how many times it
        published again. ``max_s``: give up after that long (real seconds), for tests."""
        started = time.monotonic()
        again = 0
        while max_s is None or time.monotonic() - started < max_s:
            try:
                if self._redis.exists(end_read_key(self.stream)):
                    return again
                if not self._ends():
                    again += 1
                    self.publish(feed, timeframe)
                    continue
            except redis.ConnectionError as exc:
                log.warning("candle_stream.redis_unreachable", stream=self.stream, error=str(exc))
            self._sleep(poll_s)
        return again

    def _ends(self) -> bool:
        reply: Any = self._redis.xrevrange(self.stream, count=1)
        return bool(reply) and _event(self.stream, reply[0][0], reply[0][1]).type == END_TYPE

    def _append_from(
        self,
        start: int,
        bars: Sequence[Bar],
        keys: Sequence[tuple[int, int]],
        timeframe: str,
        end_entry: tuple[str, str],
        on_batch: Callable[[int], None] | None = None,
    ) -> bool:
        """Appends ``bars[start:]`` then the end entry (counted in ``_appended``); False when
        it stopped because the stream lost its head (a Redis restart) on the way."""
        keys_ = [self.stream, whole_key(self.stream)]
        appended = 0
        for first in range(start, len(bars), self._batch):
            if first > start and self._pause_s > 0:
                self._sleep(self._pause_s)
            args: list[str] = []
            for i in range(first, min(first + self._batch, len(bars))):
                args += [_entry_id(keys[i]), _candle_event(bars[i], timeframe, i)]
            n = int(self._append(keys=keys_, args=args))
            if n < 0:
                return False
            appended += n
            self._appended += n
            if on_batch is not None:
                on_batch(start + appended)
        return int(self._append(keys=keys_, args=list(end_entry))) >= 0

    def _resume(self, bars: Sequence[Bar], keys: Sequence[tuple[int, int]], tf: str) -> int:
        """How many of ``bars`` the stream already holds (checked to be this replay's, from its
        first candle on: then the stream is marked whole)."""
        reply: Any = self._redis.xrevrange(self.stream, count=1)
        if not reply:
            self._redis.set(whole_key(self.stream), 1)
            return 0
        head: Any = self._redis.xrange(self.stream, count=1)
        first = _event(self.stream, head[0][0], head[0][1])
        if first.sequence != 0:
            raise DataError(
                f"{self.stream} starts at entry {head[0][0].decode()}, candle #{first.sequence}: "
                "its head was lost; delete the stream (or use another prefix) to publish it whole"
            )
        entry_id, fields = reply[0]
        event = _event(self.stream, entry_id, fields)
        if event.type == END_TYPE:
            if event.sequence != len(bars):
                raise DataError(
                    f"{self.stream} already ends a replay of {event.sequence} candles; this one "
                    f"has {len(bars)}: another replay's stream (use another prefix)"
                )
            return self._mark(len(bars), bars, keys, tf)
        ms, _, seq = entry_id.decode().partition("-")
        done = bisect.bisect_right(keys, (int(ms), int(seq)))
        want = candle_id(bars[done - 1][0], tf, bars[done - 1][1]) if done else None
        if event.id != want or event.sequence != done - 1:
            raise DataError(
                f"{self.stream} ends with entry {entry_id.decode()} = candle {event.id} "
                f"#{event.sequence}, which is not this replay's candle there ({want} #{done - 1}):"
                " another replay's stream (use another prefix)"
            )
        return self._mark(done, bars, keys, tf)

    def _mark(
        self, done: int, bars: Sequence[Bar], keys: Sequence[tuple[int, int]], tf: str
    ) -> int:
        """``done``, once the stream checked is marked whole; if it vanished since the check
        (Redis restarted meanwhile), what an empty stream gives."""
        if int(self._mark_whole(keys=[self.stream, whole_key(self.stream)])) == 1:
            return done
        return self._resume(bars, keys, tf)


class CandleStreamSource:
    """The engine's candle source (a ``BarSource``) reading the stream in order.

    Called with the engine's last close per symbol (empty on a fresh start), it yields the
    candles after them until the end-of-stream entry: a candle at or before its symbol's last
    close, before any new one of that symbol, is skipped (``skipped``: the engine had processed
    it before a restart). Refused with a ``DataError`` naming the stream, entry, symbol and times:
    a candle going backwards (before the previous one, or repeating its symbol's), a gap in the
    sequence (a lost entry), an entry that is not a valid candle of ``timeframe``. Waits for the
    publisher (restarted after a crash, say), or for a Redis that does not answer, at most
    ``stall_s`` without a new entry. A Redis restart (the module's docstring) is counted in
    ``redis_restarts`` and logged; reading goes on after the last entry read.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        timeframe: str,
        *,
        count: int = 500,
        block_ms: int = 500,
        stall_s: float = 300.0,
    ) -> None:
        self._redis = client
        self.stream = stream_name(prefix)
        self._timeframe = timeframe
        self._step = timeframe_ms(timeframe)
        self._count = count
        self._block_ms = block_ms
        self._stall_s = stall_s
        self.read = 0  # candles handed to the engine
        self.skipped = 0  # candles at or before the engine's last close (redelivered)
        self.ended = False
        self.redis_restarts = 0  # seen while reading (the stream was published again)
        self._server: str | None = None
        self._server_checked = 0.0  # monotonic time of the last check

    def __call__(self, last_close: Mapping[str, int]) -> Iterator[Bar]:
        return self._bars(dict(last_close))

    def _bars(self, resume: dict[str, int]) -> Iterator[Bar]:
        cursor = f"{min(resume.values()) - 1}-{_MAX_SEQ}" if resume else "0-0"
        expected = None if resume else 0  # the next sequence number; unknown until the first
        seen: dict[str, int] = {}
        previous: tuple[str, int] | None = None
        for entry_id, event in self._entries(cursor):
            if expected is not None and event.sequence != expected:
                gap = event.sequence - expected
                raise DataError(
                    f"{self.stream} entry {entry_id}: sequence {event.sequence} where {expected} "
                    f"was next: {f'{gap} candle(s) lost' if gap > 0 else 'repeated or reordered'}"
                )
            expected = event.sequence + 1
            if event.type == END_TYPE:
                self.ended = True
                self._redis.set(end_read_key(self.stream), entry_id)  # a following publisher stops
                return
            bar = self._bar(entry_id, event)
            symbol, close = bar[0], bar[2]
            if previous is not None and close < previous[1]:
                raise DataError(
                    f"{self.stream} entry {entry_id}: {symbol} candle closing {fmt(close)} "
                    f"went backwards, after {previous[0]}'s closing {fmt(previous[1])}"
                )
            previous = (symbol, close)
            if symbol not in seen and close <= resume.get(symbol, -1):
                self.skipped += 1
                continue
            if close <= seen.get(symbol, -1):
                raise DataError(
                    f"{self.stream} entry {entry_id}: {symbol} candle closing {fmt(close)} "
                    f"went backwards or repeated, after its candle closing {fmt(seen[symbol])}"
                )
            seen[symbol] = close
            self.read += 1
            yield bar

    def for_replay(self, feed: ReplayFeed) -> Callable[[Mapping[str, int]], Iterator[Bar]]:
        """This source checked against the replay window the engine loaded from its own store
        (``feed``; its frames still serve the trading rules, the account's start and the batch
        votes, which serve a decision only when its own input equals them): each candle read
        must be the feed's candle at that place (symbol, open and close time), and the stream
        must end where the feed does. A stream already ended on another window is refused
        before its first candle; any disagreement is a ``DataError`` naming both windows. The
        prices are not compared: the engine trades on the stream's."""
        return lambda last_close: self._checked(feed, dict(last_close))

    def _checked(self, feed: ReplayFeed, resume: dict[str, int]) -> Iterator[Bar]:
        want = [(s, o, c) for s, o, c, *_ in feed.bars() if c > resume.get(s, -1)]
        mine = ReplayWindow.of_feed(feed, self._timeframe)
        theirs = self.window()
        if theirs.ended and theirs != mine:
            raise DataError(self._mismatch(theirs, mine, "it ended on another window"))
        n = 0
        for bar in self._bars(resume):
            if n >= len(want) or (bar[0], bar[1], bar[2]) != want[n]:
                expected = "no more candle" if n >= len(want) else f"{want[n][0]} {fmt(want[n][1])}"
                got = f"its candle #{n} is {bar[0]} opening {fmt(bar[1])} where the engine expects"
                raise DataError(self._mismatch(self.window(), mine, f"{got} {expected}"))
            n += 1
            yield bar
        if n != len(want):
            why = f"it ended after {n} candles where the engine expects {len(want)}"
            raise DataError(self._mismatch(self.window(), mine, why))

    def window(self) -> ReplayWindow:
        """What the stream holds: its first and last close (from the entry ids) and, once the
        end entry is there, its symbols, timeframe and candle count."""
        head: Any = self._redis.xrange(self.stream, count=1)
        tail: Any = self._redis.xrevrange(self.stream, count=1)
        if not head:
            return ReplayWindow((), self._timeframe, 0, None, None, ended=False)
        last = _event(self.stream, tail[0][0], tail[0][1])
        first_close = int(head[0][0].decode().partition("-")[0])
        last_close = int(tail[0][0].decode().partition("-")[0])
        if last.type != END_TYPE:
            length: Any = self._redis.xlen(self.stream)
            count = int(length)
            return ReplayWindow((), self._timeframe, count, first_close, last_close, ended=False)
        end = record_of(STREAM_END, last)
        return ReplayWindow(end.symbols, end.timeframe, last.sequence, first_close, last_close)

    def _mismatch(self, theirs: ReplayWindow, mine: ReplayWindow, why: str) -> str:
        return (
            f"{self.stream} does not carry the replay this engine loaded ({why}): the stream "
            f"holds {theirs}; the engine replays {mine}. Publish this window on another "
            "--stream-prefix, or give both roles the same store and settings"
        )

    def _entries(self, cursor: str) -> Iterator[tuple[str, Event]]:
        waited = time.monotonic()
        while True:
            reply = self._read(cursor)
            if not reply:
                if time.monotonic() - waited > self._stall_s:
                    raise DataError(self._stalled(cursor))
                continue
            waited = time.monotonic()
            for raw_id, fields in reply[0][1]:
                cursor = raw_id.decode()
                yield cursor, _event(self.stream, raw_id, fields)

    def _read(self, cursor: str) -> Any:
        """One ``XREAD`` after ``cursor`` (nothing when Redis does not answer), checking the
        server's id on an empty read and at most once a second."""
        try:
            reply: Any = self._redis.xread(
                {self.stream: cursor}, count=self._count, block=self._block_ms
            )
            if not reply or time.monotonic() - self._server_checked >= 1.0:
                self._check_server(cursor)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("candle_stream.redis_unreachable", stream=self.stream, error=str(exc))
            time.sleep(self._block_ms / 1000)
            return None
        return reply

    def _check_server(self, cursor: str) -> None:
        now = server_id(self._redis)
        self._server_checked = time.monotonic()
        if self._server is not None and now != self._server:
            self.redis_restarts += 1
            log.warning("candle_stream.redis_restarted", stream=self.stream, side="reader",
                        server_before=self._server, server_now=now, read_up_to=cursor)  # fmt: skip
        self._server = now

    def _stalled(self, cursor: str) -> str:
        why = f"{self.stream}: no entry for {self._stall_s:g} s after {cursor} and no end of stream"
        if self.redis_restarts:
            return (
                f"{why}; Redis restarted ({self.redis_restarts}x) and lost the stream, and it was "
                "not published again: start market-data again (it publishes what is missing), "
                "then this engine (it resumes from its checkpoint)"
            )
        return f"{why}: is the market-data role running?"

    def _bar(self, entry_id: str, event: Event) -> Bar:
        try:
            c: Candle = record_of(topics.CANDLE_CLOSED, event)
        except (KeyError, TypeError, ValueError) as exc:  # DomainValidationError is a ValueError
            raise DataError(f"{self.stream} entry {entry_id}: not a valid candle: {exc}") from exc
        cid = candle_id(c.symbol, c.timeframe, c.open_time)
        if c.timeframe != self._timeframe or event.id != cid:
            raise DataError(
                f"{self.stream} entry {entry_id}: candle {event.id} ({c.timeframe}) where the "
                f"engine replays {self._timeframe} candles"
            )
        close = c.open_time + self._step
        if not entry_id.startswith(f"{close}-"):
            raise DataError(
                f"{self.stream} entry {entry_id}: {c.symbol} candle closing {fmt(close)} "
                "filed under another time"
            )
        return (c.symbol, c.open_time, close, c.open, c.high, c.low, c.close, c.volume)


@dataclass(frozen=True, slots=True)
class ReplayWindow:
    """A replay window, in words for errors: symbols, timeframe, candles, first/last close."""

    symbols: tuple[str, ...]
    timeframe: str
    candles: int
    first_close: int | None
    last_close: int | None
    ended: bool = True  # False: a stream still being published (symbols unknown yet)

    @classmethod
    def of_feed(cls, feed: ReplayFeed, timeframe: str) -> ReplayWindow:
        closes = [c for _, _, c, *_ in feed.bars()]
        first, last = (closes[0], closes[-1]) if closes else (None, None)
        return cls(tuple(feed.symbols), timeframe, len(closes), first, last)

    def __str__(self) -> str:
        if self.first_close is None or self.last_close is None:
            return "no candle yet"
        span = f"closing {fmt(self.first_close)} to {fmt(self.last_close)}"
        if not self.ended:
            return f"{self.candles} entries so far {span}, not ended yet"
        return f"{', '.join(self.symbols)} {self.timeframe}: {self.candles} candles {span}"


def _entry_id(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]}"


def _candle_event(bar: Bar, timeframe: str, sequence: int) -> str:
    symbol, open_time, close_time, o, h, lo, c, v = bar
    # the topic's own codec: the reader decodes with it (``record_of``)
    payload = topics.CANDLE_CLOSED.encode(Candle(symbol, timeframe, open_time, o, h, lo, c, v))
    cid = candle_id(symbol, timeframe, open_time)
    return Event(cid, CANDLE_TOPIC, close_time, SOURCE, sequence, payload).to_json()


def _event(stream: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> Event:
    raw = fields.get(b"event")
    try:
        if raw is None:
            raise KeyError("no 'event' field")
        return Event.from_json(raw.decode())
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{stream} entry {entry_id.decode()}: not an event envelope: {exc}"
        ) from exc


__all__ = [
    "CANDLE_TOPIC",
    "END_TYPE",
    "CandleStreamPublisher",
    "CandleStreamSource",
    "PublishReport",
    "ReplayWindow",
    "candle_id",
    "stream_name",
]
