"""Exactly one venue order per intent, at scale: the order manager and ``CcxtVenue`` over real
ccxt talking HTTP to the exchange double (tests/exchange_double/), with a fifth of the submits
accepted by the venue and then unanswered (the connection dropped).

Prints the requests the double saw (by endpoint), the venue orders, the duplicates (venue
orders sharing a client id, and duplicate ids the venue had to refuse), the intents resolved by
lookup, and the wall time. ``tests/live/test_exactly_once.py`` runs the same with 500.

Run: ``PYTHONPATH=.:src python bench/bench_exchange_double.py [N]`` (default 10,000).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package (the double)

from tests.exchange_double import ExchangeDouble
from tests.live.conftest import manager_for, venue_for

from quantum_trader.domain.orders import OrderStatus, Side

TIMEOUT_SHARE = 0.2


def main(n: int) -> None:
    with ExchangeDouble() as double:
        double.faults.timeout_after_accept = TIMEOUT_SHARE
        venue = venue_for(double)
        om = manager_for(venue, double)
        start = time.perf_counter()
        held = [om.submit("BTCUSDT", Side.BUY if i % 2 else Side.SELL, 0.003) for i in range(n)]
        wall = time.perf_counter() - start
        by_id = Counter(o.client_order_id for o in double.book.orders.values())
        lookups = double.requests["GET /fapi/v1/order"]
        resolved = sum(o.status is OrderStatus.FILLED for o in held)
        print(f"submits (intents)           {n:>8,}")
        print(f"timeouts after acceptance   {TIMEOUT_SHARE:>8.0%} drawn")
        print(f"requests, all               {sum(double.requests.values()):>8,}")
        for endpoint, count in sorted(double.requests.items()):
            print(f"  {endpoint:<26}{count:>8,}")
        print(f"venue orders                {len(double.book.orders):>8,}")
        print(f"duplicate venue orders      {sum(c - 1 for c in by_id.values()):>8,}")
        print(f"duplicate ids refused       {double.book.duplicate_attempts:>8,}")
        print(f"resolved by lookup          {lookups:>8,}")
        print(f"intents resolved (filled)   {resolved:>8,}")
        print(f"fills heard, repeats        {len(om.fill_log):>8,} {om.duplicate_fills:>4}")
        print(f"wall time                   {wall:>8.1f} s ({wall / n * 1e3:.2f} ms a submit)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
