"""The append-only account ledger: every change of the wallet balance is one entry.

The wallet balance is, by construction, the sum of all entry amounts; ``balance_after`` on each
entry lets a reader check that without replaying. Entries waiting to be persisted are drained by
the checkpointer, which writes them in the same transaction as the replay cursor. ``digest`` is a
hash over all entries in order, so two runs can be compared with one string.

A replay appends tens of thousands of entries, so the ledger keeps each as a plain tuple and
builds :class:`LedgerEntry` records only when someone reads them (``entries``,
``drain_pending``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain import checks
from quantum_trader.domain.canonical import canonical_bytes


class LedgerKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    REALIZED_PNL = "REALIZED_PNL"
    FEE = "FEE"
    FUNDING = "FUNDING"
    LIQUIDATION_FEE = "LIQUIDATION_FEE"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    seq: int
    time: int
    kind: LedgerKind
    symbol: str
    amount: float
    balance_after: float
    ref: str


#: kind name <-> member: rows hold the plain name (cheap to hash), entries the member
_KIND_NAME: dict[str, str] = {k: k.value for k in LedgerKind}
_KIND: dict[str, LedgerKind] = {k.value: k for k in LedgerKind}
#: one row per entry: (seq, time, kind name, symbol, amount, balance_after, ref)
_Row = tuple[int, int, str, str, float, float, str]
_DIGEST_BLOCK = 256  # rows hashed together; fixed blocks keep the digest independent of reads
_INF = float("inf")


def _entry(row: _Row) -> LedgerEntry:
    seq, time, kind, symbol, amount, balance_after, ref = row
    return LedgerEntry(seq, time, _KIND[kind], symbol, amount, balance_after, ref)


def _row(entry: LedgerEntry) -> _Row:
    e = entry
    return (e.seq, e.time, _KIND_NAME[e.kind], e.symbol, e.amount, e.balance_after, e.ref)


class Ledger:
    """Append-only list of balance changes.

    >>> led = Ledger()
    >>> led.append(0, LedgerKind.DEPOSIT, "", 1000.0, "initial")
    1000.0
    >>> led.append(1, LedgerKind.FEE, "BTCUSDT", -0.5, "o-1")
    999.5
    >>> led.balance, len(led.entries), led.entries[-1].kind
    (999.5, 2, <LedgerKind.FEE: 'FEE'>)
    """

    __slots__ = ("_balance", "_hashed", "_hasher", "_persisted", "_rows")

    def __init__(self) -> None:
        self._rows: list[_Row] = []
        self._persisted = 0  # rows before this index were drained (or loaded)
        self._balance = 0.0
        self._hasher = hashlib.sha256()
        self._hashed = 0  # rows fed to the hasher so far (whole blocks, on read)

    @property
    def balance(self) -> float:
        return self._balance

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(map(_entry, self._rows))

    @property
    def has_pending(self) -> bool:
        return self._persisted < len(self._rows)

    @property
    def digest(self) -> str:
        """sha256 over all entries' fields, in order, in blocks of 256 rows (see
        :func:`canonical_bytes`). Whole blocks are fed on read, so appends stay cheap, and the
        last partial block is hashed into a copy: the value does not depend on when it is
        read, nor on whether the entries were appended or loaded."""
        rows = self._rows
        whole = len(rows) - len(rows) % _DIGEST_BLOCK
        while self._hashed < whole:
            self._hasher.update(canonical_bytes(rows[self._hashed : self._hashed + _DIGEST_BLOCK]))
            self._hashed += _DIGEST_BLOCK
        hasher = self._hasher.copy()
        if whole < len(rows):
            hasher.update(canonical_bytes(rows[whole:]))
        return hasher.hexdigest()

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, time: int, kind: LedgerKind, symbol: str, amount: float, ref: str) -> float:
        """Record a balance change; returns the balance after it."""
        if not -_INF < amount < _INF:
            checks.finite("LedgerEntry", "amount", amount)
        self._balance = balance = self._balance + amount
        rows = self._rows
        rows.append((len(rows) + 1, time, _KIND_NAME[kind], symbol, amount, balance, ref))
        return balance

    def changes_after(self, time: int) -> tuple[float, list[tuple[int, float]]]:
        """The balance before the entries dated after ``time``, and those entries as
        (time, balance after), oldest first (the latest entries only: it scans from the end).

        >>> led = Ledger()
        >>> _ = led.append(0, LedgerKind.DEPOSIT, "", 100.0, "initial")
        >>> _ = led.append(5, LedgerKind.FUNDING, "BTCUSDT", -1.0, "funding@5")
        >>> led.changes_after(0)
        (100.0, [(5, 99.0)])
        """
        rows = self._rows
        i = len(rows)
        while i > 0 and rows[i - 1][1] > time:
            i -= 1
        before = rows[i - 1][5] if i > 0 else 0.0
        return before, [(r[1], r[5]) for r in rows[i:]]

    def drain_pending(self) -> list[LedgerEntry]:
        """The entries appended since the last drain, as records (the checkpointer persists
        them)."""
        pending = self._rows[self._persisted :]
        self._persisted = len(self._rows)
        return list(map(_entry, pending))

    def load(self, entries: list[LedgerEntry]) -> None:
        """Restore persisted entries (on resume); checks the sequence and the running balance."""
        if self._rows:
            raise ValueError("Ledger.load: ledger is not empty")
        balance = 0.0
        for i, entry in enumerate(entries, start=1):
            if entry.seq != i:
                raise ValueError(f"ledger entry #{i} has seq {entry.seq}: entries missing")
            balance += entry.amount
            if abs(balance - entry.balance_after) > 1e-6 * max(1.0, abs(balance)):
                raise ValueError(
                    f"ledger entry #{i}: balance_after {entry.balance_after} != running sum {balance}"
                )
            self._rows.append(_row(entry))
        self._persisted = len(self._rows)
        self._balance = entries[-1].balance_after if entries else 0.0
