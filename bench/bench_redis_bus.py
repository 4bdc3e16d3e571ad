"""Throughput of the bus over Redis Streams (``adapters/redis_streams``), events per second.

Each row is measured REPEATS times on a fresh stream of small events (``{"i": n, "price":
…}``), and the median, min and max printed:

- *publish, one by one*: ``publish`` (the numbering script + the append script: two round
  trips per event);
- *publish_many*: batches of BATCH (the same two scripts per batch);
- *consume + ack*: ``poll(count=BATCH)`` until the stream is drained (the read script), a
  handler that counts, one ``XACK`` per batch;
- *consume + ack, idempotent*: the same with ``RedisProcessedIds`` (one ``MGET`` per batch,
  one ``SET`` per event after its handler);
- *publish ‖ consume*: a publishing process and a consuming process at once, the time from the
  first publish to the last acknowledgement.

Run: ``PYTHONPATH=src python bench/bench_redis_bus.py`` (Redis at ``QT_BENCH_REDIS_URL``,
default ``redis://127.0.0.1:6379/15``; ``BENCH_EVENTS`` events per row, default 100,000;
``BENCH_ROWS`` the rows to run, by function name and comma-separated, default all: e.g.
``BENCH_ROWS=publish_and_consume`` to compare two trees side by side on one row, alternating).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import Callable

import redis

from quantum_trader.adapters.redis_streams import RedisProcessedIds, RedisStreamsBus
from quantum_trader.bus import Event
from quantum_trader.clock.clock import SimulatedClock

URL = os.environ.get("QT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
ONE_BY_ONE = min(EVENTS, 20_000)  # two round trips each: a smaller sample says enough
BATCH = 1000
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
ONLY = {name for name in os.environ.get("BENCH_ROWS", "").split(",") if name}


def _payloads(n: int) -> list[dict[str, float]]:
    return [{"i": i, "price": 50_000.0 + i * 0.5} for i in range(n)]


def _bus(client: redis.Redis, prefix: str, group: str, **options: object) -> RedisStreamsBus:
    return RedisStreamsBus(
        client, SimulatedClock(0), group=group, consumer="w1", prefix=prefix,
        maxlen=2 * EVENTS, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _clean(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(f"{prefix}:*", count=10_000):
        client.delete(key)


def publish_one_by_one(client: redis.Redis, prefix: str) -> float:
    bus = _bus(client, prefix, "p")
    started = time.perf_counter()
    for payload in _payloads(ONE_BY_ONE):
        bus.publish("t", payload, source="bench")
    return ONE_BY_ONE / (time.perf_counter() - started)


def publish_many(client: redis.Redis, prefix: str) -> float:
    bus = _bus(client, prefix, "p")
    payloads = _payloads(EVENTS)
    started = time.perf_counter()
    for start in range(0, EVENTS, BATCH):
        bus.publish_many("t", payloads[start : start + BATCH], source="bench")
    return EVENTS / (time.perf_counter() - started)


def _consume(client: redis.Redis, prefix: str, *, idempotent: bool) -> float:
    store = RedisProcessedIds(client, prefix=prefix) if idempotent else None
    consumer = _bus(client, prefix, "c", processed=store)
    seen = [0]

    def count(_: Event) -> None:
        seen[0] += 1

    consumer.subscribe("t", count)
    _bus(client, prefix, "p").publish_many("t", _payloads(EVENTS), source="bench")
    started = time.perf_counter()
    while consumer.poll(count=BATCH):
        pass
    elapsed = time.perf_counter() - started
    assert seen[0] == EVENTS and client.xpending(f"{prefix}:t", "c")["pending"] == 0
    return EVENTS / elapsed


def consume(client: redis.Redis, prefix: str) -> float:
    return _consume(client, prefix, idempotent=False)


def consume_idempotent(client: redis.Redis, prefix: str) -> float:
    return _consume(client, prefix, idempotent=True)


def _publisher(prefix: str) -> None:
    client = redis.Redis.from_url(URL)
    bus = _bus(client, prefix, "p")
    payloads = _payloads(EVENTS)
    for start in range(0, EVENTS, BATCH):
        bus.publish_many("t", payloads[start : start + BATCH], source="bench")


def publish_and_consume(client: redis.Redis, prefix: str) -> float:
    consumer = _bus(client, prefix, "c")
    seen = [0]

    def count(_: Event) -> None:
        seen[0] += 1

    consumer.subscribe("t", count)
    process = multiprocessing.get_context("spawn").Process(target=_publisher, args=(prefix,))
    process.start()
    while not client.exists(f"{prefix}:sequence"):  # the child's start is not measured
        time.sleep(0.0005)
    started = time.perf_counter()
    while seen[0] < EVENTS:
        consumer.poll(count=BATCH, block_ms=100)
    elapsed = time.perf_counter() - started
    process.join()
    return EVENTS / elapsed


ROWS: list[tuple[str, Callable[[redis.Redis, str], float]]] = [
    (f"publish, one by one ({ONE_BY_ONE:,})", publish_one_by_one),
    (f"publish_many, batches of {BATCH}", publish_many),
    (f"consume + ack, poll(count={BATCH})", consume),
    ("consume + ack, idempotent (Redis ids)", consume_idempotent),
    ("publish ‖ consume, two processes", publish_and_consume),
]


def main() -> None:
    client = redis.Redis.from_url(URL)
    info = client.info("server")
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"Redis {info['redis_version']}, redis-py {redis.__version__}; "
        f"{EVENTS:,} events per row, median of {REPEATS}"
    )
    print(f"{'':42} {'median':>10} {'min':>10} {'max':>10}  events/s")
    unknown = ONLY - {row.__name__ for _, row in ROWS}
    if unknown:
        raise SystemExit(f"BENCH_ROWS: no row named {sorted(unknown)}")
    for name, row in ROWS:
        if ONLY and row.__name__ not in ONLY:
            continue
        rates = []
        for _ in range(REPEATS):
            prefix = f"qt-bench-{uuid.uuid4().hex[:8]}"
            try:
                rates.append(row(client, prefix))
            finally:
                _clean(client, prefix)
        print(
            f"{name:42} {statistics.median(rates):>10,.0f} {min(rates):>10,.0f} "
            f"{max(rates):>10,.0f}"
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
