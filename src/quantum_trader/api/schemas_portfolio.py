"""The bodies of the portfolio routes: positions, fills, equity. Times are epoch milliseconds,
UTC; the shared base and the other routes' bodies are in :mod:`quantum_trader.api.schemas`."""

from __future__ import annotations

from typing import Literal

from quantum_trader.api.schemas import Out


class PositionOut(Out):
    symbol: str
    side: Literal["LONG", "SHORT"]
    quantity: float  # the size, always > 0 (``side`` says the direction)
    entry_price: float
    mark_price: float  # the last close the engine marked the position at
    unrealized_pnl: float  # signed quantity × (mark − entry)
    notional: float  # quantity × mark
    leverage: float
    margin: float  # isolated margin held by the position
    liquidation_price: float
    opened_at: int


class PositionsOut(Out):
    """The open positions at the last run's latest checkpoint (run_id None: no run recorded;
    as_of None: the run kept no execution state)."""

    run_id: str | None
    as_of: int | None  # engine time of the checkpoint the positions are read from
    positions: list[PositionOut]


class FillOut(Out):
    fill_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    time: int
    is_maker: bool


class FillsOut(Out):
    run_id: str | None  # None: no run recorded
    fills: list[FillOut]


class EquityPointOut(Out):
    time: int
    equity: float
    #: the wallet balance after the last ledger entry at or before ``time`` (None: none yet)
    balance: float | None
    peak: float  # the highest equity up to ``time``, every stored point counted
    drawdown: float  # (peak − equity) / peak: a fraction, 0 at a new peak


class EquityOut(Out):
    """The last run's equity curve, every ``step``-th stored point plus the last."""

    run_id: str | None  # None: no run recorded
    total_points: int  # the points the run stored
    step: int  # 1: every point; k: every k-th point, and the last
    max_drawdown: float  # over every stored point, not only those returned
    balance: float | None  # the wallet balance now (after the run's last ledger entry)
    points: list[EquityPointOut]
