"""The Q-table, its stored form, and the port through which it is saved and restored.

The table maps (state key, strategy) to a value and a visit count. Only cells that were ever
updated are stored; every other cell is worth its initial value, 0 — the value of Neutral,
which opens no trade and so never earns a reward: a strategy is preferred to standing aside
only once its estimate is above zero.

A stored table (:class:`QTableSnapshot`) is checked cell by cell when it is read back
(:meth:`QTable.from_snapshot`): an unknown strategy, a key that is no state, a non-finite value
or a negative visit count is a :class:`CorruptQTableError` naming the scope and the cell, never
a table that half loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from quantum_trader.agents.qstate import QState, QStateConfig
from quantum_trader.domain.errors import QuantumTraderError
from quantum_trader.strategy.selector import STRATEGY_NAMES


class CorruptQTableError(QuantumTraderError, ValueError):
    """A stored Q-table cannot be read back as it is."""


@dataclass(frozen=True, slots=True)
class QCell:
    """One stored cell: the value of ``action`` in ``state`` and how many updates made it."""

    state: str
    action: str
    q: float
    visits: int


@dataclass(frozen=True, slots=True)
class QTableSnapshot:
    """A whole table as saved: its scope (a run id or a named table), the fingerprint of the
    state space, the learner's counters at the save (updates, of which closed trades learnt
    from, and decisions), the engine time of the save, the cells."""

    scope: str
    state_space: str
    updates: int
    trades: int
    decisions: int
    saved_at: int
    cells: tuple[QCell, ...]


class QTableRepository(Protocol):
    """Where a Q-table lives between runs.

    ``save`` replaces the scope's whole table in **one transaction**: a process killed during a
    save leaves the previous table as it was. ``load`` returns None for a scope never saved.
    """

    def save(self, snapshot: QTableSnapshot) -> None: ...

    def load(self, scope: str) -> QTableSnapshot | None: ...


class QTable:
    """Values and visit counts per (state key, strategy); unvisited cells are worth 0.

    >>> t = QTable()
    >>> t.update("BULL|v1|c1|p0", "TrendFollowing", 0.01, 0.5)
    0.005
    >>> t.values("BULL|v1|c1|p0")
    (0.005, 0.0, 0.0, 0.0)
    """

    __slots__ = ("_cells",)

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], list[float]] = {}  # [q, visits]

    def __len__(self) -> int:
        return len(self._cells)

    def values(self, state: str) -> tuple[float, ...]:
        """The value of every strategy of :data:`STRATEGY_NAMES` in ``state``, in that order."""
        cells = self._cells
        return tuple(cells[(state, a)][0] if (state, a) in cells else 0.0 for a in STRATEGY_NAMES)

    def q(self, state: str, action: str) -> float:
        cell = self._cells.get((state, action))
        return 0.0 if cell is None else cell[0]

    def visits(self, state: str, action: str) -> int:
        cell = self._cells.get((state, action))
        return 0 if cell is None else int(cell[1])

    def update(self, state: str, action: str, target: float, rate: float) -> float:
        """Move the cell toward ``target`` by ``rate`` (one visit more); the new value."""
        cell = self._cells.get((state, action))
        if cell is None:
            cell = self._cells[(state, action)] = [0.0, 0.0]
        cell[0] += rate * (target - cell[0])
        cell[1] += 1
        return cell[0]

    def cells(self) -> tuple[QCell, ...]:
        """Every visited cell, sorted by state and strategy (a stable stored form)."""
        return tuple(QCell(s, a, v[0], int(v[1])) for (s, a), v in sorted(self._cells.items()))

    def copy(self) -> QTable:
        out = QTable()
        out._cells = {k: list(v) for k, v in self._cells.items()}
        return out

    @classmethod
    def from_cells(cls, cells: Iterable[QCell], *, config: QStateConfig, where: str) -> QTable:
        """A table from stored cells, each one checked (``where`` names the source in errors)."""
        table = cls()
        for cell in cells:
            _check_cell(cell, config, where)
            key = (cell.state, cell.action)
            if key in table._cells:
                raise CorruptQTableError(f"{where}: cell ({cell.state}, {cell.action}) twice")
            table._cells[key] = [cell.q, float(cell.visits)]
        return table

    @classmethod
    def from_snapshot(cls, snapshot: QTableSnapshot, config: QStateConfig) -> QTable:
        """The table of a stored snapshot, refused when it was learnt in another state space
        or any cell is corrupt."""
        where = f"stored Q-table {snapshot.scope!r}"
        if snapshot.state_space != config.fingerprint():
            raise CorruptQTableError(
                f"{where} was learnt in state space {snapshot.state_space!r}, this learner "
                f"uses {config.fingerprint()!r}: start a new scope or keep the old buckets"
            )
        if not 0 <= snapshot.trades <= snapshot.updates or snapshot.decisions < 0:
            raise CorruptQTableError(
                f"{where}: impossible counters (updates={snapshot.updates}, "
                f"trades={snapshot.trades}, decisions={snapshot.decisions})"
            )
        table = cls.from_cells(snapshot.cells, config=config, where=where)
        total = sum(c.visits for c in snapshot.cells)
        if total > snapshot.updates:
            raise CorruptQTableError(
                f"{where}: its cells count {total} visits but only {snapshot.updates} updates"
            )
        return table


def _check_cell(cell: QCell, config: QStateConfig, where: str) -> None:
    at = f"{where}, cell ({cell.state!r}, {cell.action!r})"
    if cell.action not in STRATEGY_NAMES:
        raise CorruptQTableError(f"{at}: unknown strategy; known {list(STRATEGY_NAMES)}")
    try:
        state = QState.parse(cell.state)
    except ValueError as exc:
        raise CorruptQTableError(f"{at}: {exc}") from None
    if not state.fits(config):
        raise CorruptQTableError(f"{at}: a bucket beyond the configured edges")
    if not math.isfinite(cell.q):
        raise CorruptQTableError(f"{at}: value {cell.q!r} is not finite")
    if cell.visits < 1:
        raise CorruptQTableError(f"{at}: visits={cell.visits} (a stored cell was visited)")
