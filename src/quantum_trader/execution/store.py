"""The storage port for execution state: one atomic checkpoint per write.

A checkpoint carries the replay cursor, a JSON snapshot of the engine's mutable state, and every
order, fill, trade, ledger entry and equity point produced since the previous checkpoint. The
store writes them in ONE transaction, so after a crash the database holds either all of a
candle's changes with its cursor, or none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.orders import Fill, Order
from quantum_trader.domain.positions import Trade
from quantum_trader.portfolio.ledger import LedgerEntry


@dataclass(frozen=True, slots=True)
class CheckpointBatch:
    run_id: str
    cursor: int
    last_time: int
    finished: bool
    state_json: str
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    equity: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredRun:
    """Everything persisted for one run, in order."""

    cursor: int
    last_time: int
    finished: bool
    state_json: str
    orders: dict[str, Order]
    fills: list[Fill]
    trades: list[Trade]
    ledger: list[LedgerEntry]
    equity: list[tuple[int, float]]


class ExecutionStore(Protocol):
    def commit(self, batch: CheckpointBatch) -> None: ...

    def load(self, run_id: str) -> StoredRun | None: ...
