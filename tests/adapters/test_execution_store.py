"""The execution store writes a checkpoint atomically and reads a run back, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.portfolio.ledger import Ledger, LedgerKind


def _batch(cursor: int, orders: list[Order], **kw: object) -> CheckpointBatch:
    return CheckpointBatch(
        run_id="r1",
        cursor=cursor,
        last_time=cursor * 10,
        finished=False,
        state_json="{}",
        orders=orders,
        **kw,  # type: ignore[arg-type]
    )


def test_checkpoint_roundtrip_and_order_upsert(db_engine: Engine) -> None:
    store = SqlExecutionStore(db_engine)
    assert store.load("r1") is None
    order = Order("r1-BTCUSDT-1", "BTCUSDT", Side.BUY, OrderType.MARKET, 0.5, created_at=0)
    ledger = Ledger()
    ledger.append(0, LedgerKind.DEPOSIT, "", 1000.0, "initial")
    store.commit(_batch(1, [order], ledger=ledger.drain_pending(), equity=[(0, 1000.0)]))
    filled = order.apply_fill(0.5, 100.0, 5)
    fill = Fill("r1-BTCUSDT-1-F1", order.client_order_id, "BTCUSDT", Side.BUY, 0.5, 100.0, 0.025, 5)
    ledger.append(5, LedgerKind.FEE, "BTCUSDT", -0.025, order.client_order_id)
    trade = Trade("r1-T1", "BTCUSDT", Side.BUY, 0.5, 100.0, 110.0, 5, 9, 5.0, 0.05, 0.01, "s", "x")
    store.commit(_batch(2, [filled], fills=[fill], trades=[trade], ledger=ledger.drain_pending()))
    run = store.load("r1")
    assert run is not None
    assert run.cursor == 2 and run.last_time == 20 and not run.finished
    assert run.orders == {filled.client_order_id: filled}
    assert run.orders[filled.client_order_id].status is OrderStatus.FILLED
    assert run.fills == [fill] and run.trades == [trade]
    assert run.ledger == list(ledger.entries)
    assert run.equity == [(0, 1000.0)]


def test_a_failed_checkpoint_writes_nothing(db_engine: Engine) -> None:
    store = SqlExecutionStore(db_engine)
    ledger = Ledger()
    ledger.append(0, LedgerKind.DEPOSIT, "", 1000.0, "initial")
    entries = ledger.drain_pending()
    store.commit(_batch(1, [], ledger=entries))
    ledger.append(1, LedgerKind.FEE, "BTCUSDT", -1.0, "x")
    duplicate = entries + ledger.drain_pending()  # the first entry again violates the key
    with pytest.raises(IntegrityError):
        store.commit(_batch(2, [], ledger=duplicate))
    run = store.load("r1")
    assert run is not None and run.cursor == 1 and len(run.ledger) == 1
