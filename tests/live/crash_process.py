"""The process that is killed: ``python -m tests.live.crash_process <double url> <db url> <point>``.

It starts a lineage on the exchange double (the venue's balance as its book), trades the first
intent to the end (entry filled, take-profit resting, committed), then decides the second and
sends itself SIGKILL — a real ``kill -9``, no handler, no ``finally``, no flush — at ``point``:

- ``before_commit``: the intent is formed, its write-ahead commit has not run;
- ``after_commit``: the intent is committed, its request not sent;
- ``after_ack``: the venue accepted the order and its answer reached this process (ccxt's
  ``create_order`` returned), nothing of it is recorded.

Exit status 3 means the point was never reached (the test fails on it).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from quantum_trader.adapters.sql.database import create_db_engine
from quantum_trader.domain.orders import Order
from tests.live.crash_harness import FIRST, SECOND, TradingProcess, open_venue

POINTS = ("before_commit", "after_commit", "after_ack")


def _kill(point: str) -> None:
    print(f"killed at {point}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _is_second_entry(order: Order) -> bool:
    decision = order.decision
    return (
        decision is not None
        and decision.decision_id == SECOND.decision_id
        and not order.reduce_only
    )


def main(base_url: str, db_url: str, point: str) -> int:
    if point not in POINTS:
        raise SystemExit(f"unknown point {point!r}; one of {POINTS}")
    remote = open_venue(base_url)
    process = TradingProcess(create_db_engine(db_url), remote)
    process.start_fresh(remote.balance())

    def before(order: Order) -> None:
        if point == "before_commit" and _is_second_entry(order):
            _kill(point)

    def after(order: Order) -> None:
        if point == "after_commit" and _is_second_entry(order):
            _kill(point)

    process.write_ahead(before, after)
    if point == "after_ack":
        client: Any = remote.client  # ccxt's client: its create_order is wrapped, once
        create = client.create_order

        def create_then_die(*args: Any) -> Any:
            # (symbol, type, side, amount, price, params), as CcxtVenue calls it
            answer = create(*args)
            if args[0] == "ETH/USDT:USDT" and not args[5].get("reduceOnly"):  # the second entry
                _kill(point)
            return answer

        client.create_order = create_then_die
    process.decide(FIRST)
    process.commit()
    process.decide(SECOND)
    return 3


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
