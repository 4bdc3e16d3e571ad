"""SQL implementation of the execution store (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select, update

from quantum_trader.adapters.sql.tables_execution import (
    equity_snapshots,
    exec_fills,
    exec_orders,
    exec_trades,
    ledger_entries,
    replay_checkpoints,
)
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.store import CheckpointBatch, StoredRun
from quantum_trader.portfolio.ledger import LedgerEntry, LedgerKind


class SqlExecutionStore:
    """Writes each checkpoint in one transaction; reads a run back in order."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def commit(self, batch: CheckpointBatch) -> None:
        run = batch.run_id
        with self._engine.begin() as conn:
            if batch.orders:
                ids = [o.client_order_id for o in batch.orders]
                existing = set(
                    conn.execute(
                        select(exec_orders.c.client_order_id).where(
                            exec_orders.c.client_order_id.in_(ids)
                        )
                    ).scalars()
                )
                new = [
                    _order_row(run, o) for o in batch.orders if o.client_order_id not in existing
                ]
                if new:
                    conn.execute(insert(exec_orders), new)
                for o in batch.orders:
                    if o.client_order_id in existing:
                        row = _order_row(run, o)
                        conn.execute(
                            update(exec_orders)
                            .where(exec_orders.c.client_order_id == o.client_order_id)
                            .values(**{k: v for k, v in row.items() if k != "client_order_id"})
                        )
            if batch.fills:
                conn.execute(insert(exec_fills), [_fill_row(run, f) for f in batch.fills])
            if batch.trades:
                conn.execute(insert(exec_trades), [_trade_row(run, t) for t in batch.trades])
            if batch.ledger:
                conn.execute(insert(ledger_entries), [_ledger_row(run, e) for e in batch.ledger])
            if batch.equity:
                conn.execute(
                    insert(equity_snapshots),
                    [{"run_id": run, "time": t, "equity": e} for t, e in batch.equity],
                )
            values = {
                "cursor": batch.cursor,
                "last_time": batch.last_time,
                "finished": batch.finished,
                "state_json": batch.state_json,
            }
            changed = conn.execute(
                update(replay_checkpoints)
                .where(replay_checkpoints.c.run_id == run)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(replay_checkpoints).values(run_id=run, **values))

    def recent(self, run_id: str, limit: int) -> tuple[list[Trade], list[Order]]:
        """A run's newest ``limit`` trades (by exit time) and orders (by creation), newest
        first, read with a limit: what an operator's page shows, without loading the run."""
        return self.recent_trades(run_id, limit), self.recent_orders(run_id, limit)

    def recent_trades(self, run_id: str, limit: int) -> list[Trade]:
        """A run's newest ``limit`` trades, by exit time (then entry time), newest first."""
        t = exec_trades
        with self._engine.connect() as conn:
            return [
                _trade(r)
                for r in conn.execute(
                    select(t).where(t.c.run_id == run_id)
                    .order_by(t.c.exit_time.desc(), t.c.entry_time.desc()).limit(limit)
                ).mappings()
            ]  # fmt: skip

    def recent_orders(self, run_id: str, limit: int) -> list[Order]:
        """A run's newest ``limit`` orders, by creation (then client order id), newest first."""
        o = exec_orders
        with self._engine.connect() as conn:
            return [
                _order(r)
                for r in conn.execute(
                    select(o).where(o.c.run_id == run_id)
                    .order_by(o.c.created_at.desc(), o.c.client_order_id.desc()).limit(limit)
                ).mappings()
            ]  # fmt: skip

    def load(self, run_id: str) -> StoredRun | None:
        with self._engine.connect() as conn:
            cp = (
                conn.execute(
                    select(replay_checkpoints).where(replay_checkpoints.c.run_id == run_id)
                )
                .mappings()
                .first()
            )
            if cp is None:
                return None
            orders = conn.execute(
                select(exec_orders)
                .where(exec_orders.c.run_id == run_id)
                .order_by(exec_orders.c.created_at, exec_orders.c.client_order_id)
            ).mappings()
            order_map = {r["client_order_id"]: _order(r) for r in orders}
            fills = [
                _fill(r)
                for r in conn.execute(
                    select(exec_fills)
                    .where(exec_fills.c.run_id == run_id)
                    .order_by(exec_fills.c.time, exec_fills.c.fill_id)
                ).mappings()
            ]
            trades = [
                _trade(r)
                for r in conn.execute(
                    select(exec_trades).where(exec_trades.c.run_id == run_id)
                ).mappings()
            ]
            trades.sort(key=lambda t: int(t.trade_id.rsplit("-T", 1)[1]))
            ledger = [
                _ledger(r)
                for r in conn.execute(
                    select(ledger_entries)
                    .where(ledger_entries.c.run_id == run_id)
                    .order_by(ledger_entries.c.seq)
                ).mappings()
            ]
            equity = [
                (int(t), float(e))
                for t, e in conn.execute(
                    select(equity_snapshots.c.time, equity_snapshots.c.equity)
                    .where(equity_snapshots.c.run_id == run_id)
                    .order_by(equity_snapshots.c.time)
                )
            ]
        return StoredRun(
            cursor=int(cp["cursor"]),
            last_time=int(cp["last_time"]),
            finished=bool(cp["finished"]),
            state_json=cp["state_json"],
            orders=order_map,
            fills=fills,
            trades=trades,
            ledger=ledger,
            equity=equity,
        )


def _order_row(run: str, o: Order) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "run_id": run,
        "symbol": o.symbol,
        "side": o.side.value,
        "order_type": o.order_type.value,
        "quantity": o.quantity,
        "price": o.price,
        "stop_price": o.stop_price,
        "reduce_only": o.reduce_only,
        "status": o.status.value,
        "filled_quantity": o.filled_quantity,
        "average_price": o.average_price,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        "reason": o.reason,
        "decision_json": _decision_json(o.decision),
    }


def _order(r: RowMapping) -> Order:
    return Order(
        client_order_id=r["client_order_id"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        order_type=OrderType(r["order_type"]),
        quantity=float(r["quantity"]),
        created_at=int(r["created_at"]),
        price=r["price"],
        stop_price=r["stop_price"],
        reduce_only=bool(r["reduce_only"]),
        status=OrderStatus(r["status"]),
        filled_quantity=float(r["filled_quantity"]),
        average_price=float(r["average_price"]),
        updated_at=r["updated_at"],
        reason=r["reason"],
        decision=_decision(r["decision_json"]),
    )


def _fill_row(run: str, f: Fill) -> dict[str, Any]:
    return {
        "fill_id": f.fill_id,
        "run_id": run,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "quantity": f.quantity,
        "price": f.price,
        "fee": f.fee,
        "time": f.time,
        "is_maker": f.is_maker,
    }


def _fill(r: RowMapping) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        client_order_id=r["client_order_id"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        quantity=float(r["quantity"]),
        price=float(r["price"]),
        fee=float(r["fee"]),
        time=int(r["time"]),
        is_maker=bool(r["is_maker"]),
    )


def _trade_row(run: str, t: Trade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "run_id": run,
        "symbol": t.symbol,
        "side": t.side.value,
        "quantity": t.quantity,
        "entry_price": t.entry_price,
        "exit_price": t.exit_price,
        "entry_time": t.entry_time,
        "exit_time": t.exit_time,
        "pnl": t.pnl,
        "fees": t.fees,
        "funding": t.funding,
        "strategy": t.strategy,
        "exit_reason": t.exit_reason,
        "decision_json": _decision_json(t.decision),
    }


def _trade(r: RowMapping) -> Trade:
    return Trade(
        trade_id=r["trade_id"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        quantity=float(r["quantity"]),
        entry_price=float(r["entry_price"]),
        exit_price=float(r["exit_price"]),
        entry_time=int(r["entry_time"]),
        exit_time=int(r["exit_time"]),
        pnl=float(r["pnl"]),
        fees=float(r["fees"]),
        funding=float(r["funding"]),
        strategy=r["strategy"],
        exit_reason=r["exit_reason"],
        decision=_decision(r["decision_json"]),
    )


def _decision_json(ref: DecisionRef | None) -> str | None:
    return None if ref is None else json.dumps(ref.to_dict(), sort_keys=True)


def _decision(text: str | None) -> DecisionRef | None:
    return None if text is None else DecisionRef.from_dict(json.loads(text))


def _ledger_row(run: str, e: LedgerEntry) -> dict[str, Any]:
    return {
        "run_id": run,
        "seq": e.seq,
        "time": e.time,
        "kind": e.kind.value,
        "symbol": e.symbol,
        "amount": e.amount,
        "balance_after": e.balance_after,
        "ref": e.ref,
    }


def _ledger(r: RowMapping) -> LedgerEntry:
    return LedgerEntry(
        seq=int(r["seq"]),
        time=int(r["time"]),
        kind=LedgerKind(r["kind"]),
        symbol=r["symbol"],
        amount=float(r["amount"]),
        balance_after=float(r["balance_after"]),
        ref=r["ref"],
    )
