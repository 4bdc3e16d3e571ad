"""The append-only account ledger: every change of the wallet balance is one entry.

The wallet balance is, by construction, the sum of all entry amounts; ``balance_after`` on each
entry lets a reader check that without replaying. Entries waiting to be persisted are drained by
the checkpointer, which writes them in the same transaction as the replay cursor. ``digest`` is a
hash over all entries in order, so two runs can be compared with one string.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain import checks


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

    def canonical(self) -> str:
        return (
            f"{self.seq}|{self.time}|{self.kind.value}|{self.symbol}|{self.amount!r}|"
            f"{self.balance_after!r}|{self.ref}"
        )


class Ledger:
    """Append-only list of balance changes.

    >>> led = Ledger()
    >>> led.append(0, LedgerKind.DEPOSIT, "", 1000.0, "initial").balance_after
    1000.0
    >>> led.append(1, LedgerKind.FEE, "BTCUSDT", -0.5, "o-1").balance_after
    999.5
    >>> led.balance, len(led.entries)
    (999.5, 2)
    """

    __slots__ = ("_balance", "_digested", "_entries", "_hasher", "_pending")

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._pending: list[LedgerEntry] = []
        self._balance = 0.0
        self._hasher = hashlib.sha256()
        self._digested = 0  # entries fed to the hasher so far (hashed lazily, on read)

    @property
    def balance(self) -> float:
        return self._balance

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(self._entries)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    @property
    def digest(self) -> str:
        """sha256 over all entries' canonical lines, in order (fed on read, so appends stay
        cheap; the value does not depend on when it is read)."""
        if self._digested < len(self._entries):
            lines = [e.canonical() for e in self._entries[self._digested :]]
            self._hasher.update(("\n" + "\n".join(lines)).encode())
            self._digested = len(self._entries)
        return self._hasher.hexdigest()

    def __len__(self) -> int:
        return len(self._entries)

    def append(
        self, time: int, kind: LedgerKind, symbol: str, amount: float, ref: str
    ) -> LedgerEntry:
        checks.finite("LedgerEntry", "amount", amount)
        self._balance += amount
        entry = LedgerEntry(len(self._entries) + 1, time, kind, symbol, amount, self._balance, ref)
        self._entries.append(entry)
        self._pending.append(entry)
        return entry

    def changes_after(self, time: int) -> tuple[float, list[tuple[int, float]]]:
        """The balance before the entries dated after ``time``, and those entries as
        (time, balance after), oldest first (the latest entries only: it scans from the end).

        >>> led = Ledger()
        >>> _ = led.append(0, LedgerKind.DEPOSIT, "", 100.0, "initial")
        >>> _ = led.append(5, LedgerKind.FUNDING, "BTCUSDT", -1.0, "funding@5")
        >>> led.changes_after(0)
        (100.0, [(5, 99.0)])
        """
        entries = self._entries
        i = len(entries)
        while i > 0 and entries[i - 1].time > time:
            i -= 1
        before = entries[i - 1].balance_after if i > 0 else 0.0
        return before, [(e.time, e.balance_after) for e in entries[i:]]

    def drain_pending(self) -> list[LedgerEntry]:
        out, self._pending = self._pending, []
        return out

    def load(self, entries: list[LedgerEntry]) -> None:
        """Restore persisted entries (on resume); checks the sequence and the running balance."""
        if self._entries:
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
            self._entries.append(entry)
        self._balance = entries[-1].balance_after if entries else 0.0
