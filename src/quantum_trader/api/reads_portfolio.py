"""What the portfolio routes read: the last run's open positions, fills and equity curve.

Each read is one bounded query (or a few) over the execution tables the engine's checkpoints
write (``adapters/sql/tables_execution.py``), in SQLAlchemy Core: the execution store
(``SqlExecutionStore``) reads a whole run back to resume it, which is far too much for a page.
"""

from __future__ import annotations

import json
import math

import numpy as np
from sqlalchemy import Engine, select

from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.adapters.sql.tables_execution import (
    equity_snapshots,
    exec_fills,
    ledger_entries,
    replay_checkpoints,
)
from quantum_trader.api.schemas_portfolio import (
    EquityOut,
    EquityPointOut,
    FillOut,
    FillsOut,
    PositionOut,
    PositionsOut,
)
from quantum_trader.clock.clock import Clock
from quantum_trader.portfolio.portfolio import Portfolio


def last_run_id(engine: Engine, clock: Clock) -> str | None:
    """The most recently started run (``runs``), as ``/trades`` and ``status`` mean it."""
    last = SqlRunLock(engine, clock.now).last_run()
    return None if last is None else last.run_id


def positions(engine: Engine, clock: Clock) -> PositionsOut:
    """The last run's open positions as its latest checkpoint holds them.

    No table holds positions row by row: every checkpoint stores the portfolio's snapshot
    (``Portfolio.snapshot``: per symbol the signed quantity, entry, mark, leverage, margin and
    liquidation price) in ``replay_checkpoints.state_json``, written in the same transaction as
    the checkpoint's fills. The portfolio is rebuilt from that snapshot with its own
    ``restore``, so the answer is the engine's book exactly (liquidations and funding included,
    which netting the fills again would miss), as of the checkpoint's engine time ``as_of``.
    """
    run_id = last_run_id(engine, clock)
    if run_id is None:
        return PositionsOut(run_id=None, as_of=None, positions=[])
    t = replay_checkpoints
    with engine.connect() as conn:
        row = conn.execute(
            select(t.c.last_time, t.c.state_json).where(t.c.run_id == run_id)
        ).first()
    if row is None:
        return PositionsOut(run_id=run_id, as_of=None, positions=[])
    book = Portfolio(run_id)
    book.restore(json.loads(row.state_json)["portfolio"])
    out = []
    for symbol, position in sorted(book.positions().items()):
        state = book.state(symbol)
        if state is None:  # positions() lists only symbols the book has state for
            continue
        out.append(
            PositionOut(
                symbol=symbol,
                side="LONG" if position.quantity > 0 else "SHORT",
                quantity=abs(position.quantity),
                entry_price=position.entry_price,
                mark_price=state.mark,
                unrealized_pnl=position.unrealized_pnl(state.mark),
                notional=position.notional(state.mark),
                leverage=position.leverage,
                margin=state.margin,
                liquidation_price=state.liq_price,
                opened_at=state.opened_at,
            )
        )
    return PositionsOut(run_id=run_id, as_of=int(row.last_time), positions=out)


def fills(engine: Engine, clock: Clock, limit: int) -> FillsOut:
    """The last run's newest ``limit`` fills, newest first (ties: by fill id, descending)."""
    run_id = last_run_id(engine, clock)
    if run_id is None:
        return FillsOut(run_id=None, fills=[])
    f = exec_fills
    stmt = (
        select(f)
        .where(f.c.run_id == run_id)
        .order_by(f.c.time.desc(), f.c.fill_id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return FillsOut(
        run_id=run_id,
        fills=[
            FillOut(
                fill_id=r["fill_id"],
                client_order_id=r["client_order_id"],
                symbol=r["symbol"],
                side=r["side"],
                quantity=float(r["quantity"]),
                price=float(r["price"]),
                fee=float(r["fee"]),
                time=int(r["time"]),
                is_maker=bool(r["is_maker"]),
            )
            for r in rows
        ],
    )


def sample_step(total: int, limit: int) -> int:
    """The stride that keeps at most ``limit`` (≥ 2) of ``total`` points when every
    ``step``-th one, from the first, and the last are kept.

    >>> sample_step(10, 20), sample_step(10, 10), sample_step(10, 4), sample_step(17_520, 2000)
    (1, 1, 3, 9)
    """
    if total <= limit:
        return 1
    return math.ceil((total - 1) / (limit - 1))


def sampled(total: int, limit: int) -> list[int]:
    """The indexes kept of ``total`` points: every ``sample_step``-th one, and the last.

    >>> sampled(10, 4), sampled(10, 2), sampled(3, 5), sampled(0, 5)
    ([0, 3, 6, 9], [0, 9], [0, 1, 2], [])
    """
    if total == 0:
        return []
    kept = list(range(0, total, sample_step(total, limit)))
    if kept[-1] != total - 1:
        kept.append(total - 1)
    return kept


def equity(engine: Engine, clock: Clock, limit: int) -> EquityOut:
    """The last run's equity curve with the drawdown from the running peak at each point.

    The peak and drawdown are computed over every stored point, so a peak between two kept
    points still counts; at most ``limit`` points are returned (every k-th and the last: a
    2-year hourly run is 17,520 points). Each point's balance is the wallet balance after the
    ledger's last entry at or before its time: equity minus balance is the unrealised PnL.
    """
    run_id = last_run_id(engine, clock)
    if run_id is None:
        return EquityOut(
            run_id=None, total_points=0, step=1, max_drawdown=0.0, balance=None, points=[]
        )
    e, led = equity_snapshots, ledger_entries
    with engine.connect() as conn:
        curve = conn.execute(
            select(e.c.time, e.c.equity).where(e.c.run_id == run_id).order_by(e.c.time)
        ).all()
        ledger = conn.execute(
            select(led.c.time, led.c.balance_after)
            .where(led.c.run_id == run_id)
            .order_by(led.c.seq)
        ).all()
    total = len(curve)
    times = np.array([int(t) for t, _ in curve], dtype=np.int64)
    values = np.array([float(v) for _, v in curve], dtype=np.float64)
    peaks = np.maximum.accumulate(values)
    drawdowns = drawdown(values, peaks)
    balances = _balances_at(times, [(int(t), float(b)) for t, b in ledger])
    points = [
        EquityPointOut(
            time=int(times[i]),
            equity=float(values[i]),
            balance=balances[i],
            peak=float(peaks[i]),
            drawdown=float(drawdowns[i]),
        )
        for i in sampled(total, limit)
    ]
    return EquityOut(
        run_id=run_id,
        total_points=total,
        step=sample_step(total, limit),
        max_drawdown=float(drawdowns.max()) if total else 0.0,
        balance=float(ledger[-1][1]) if ledger else None,
        points=points,
    )


def drawdown(values: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """``(peak − equity) / peak`` per point, as ``performance.metrics.max_drawdown`` measures
    it; 0 where the peak is not positive (an account that never held money has no drawdown).

    >>> drawdown(np.array([100.0, 120.0, 90.0]), np.array([100.0, 120.0, 120.0])).tolist()
    [0.0, 0.0, 0.25]
    """
    positive = peaks > 0
    safe = np.where(positive, peaks, 1.0)
    return np.where(positive, (peaks - values) / safe, 0.0)


def _balances_at(times: np.ndarray, ledger: list[tuple[int, float]]) -> list[float | None]:
    """The balance after the last ledger entry at or before each time (None before the first
    entry). The ledger is in sequence order, which the engine appends in time order."""
    if not ledger:
        return [None] * len(times)
    entry_times = np.array([t for t, _ in ledger], dtype=np.int64)
    after = [b for _, b in ledger]
    index = np.searchsorted(entry_times, times, side="right") - 1
    return [None if i < 0 else after[i] for i in index.tolist()]
