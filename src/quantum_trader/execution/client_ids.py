"""Client order ids derived from the intent, for orders sent to a real venue.

The replay's ids (``{run_id}-{symbol}-{seq}``, ``order_manager.py``) name an order by its place
in one run; a run that starts again after a crash has another run id and a sequence that may
hand out an id again for a different intent. On a real venue an id must instead name *the
intent*, so that the same intent after a restart is the same id (the venue refuses a second
order under it: Binance ``-4116``) and a restarted engine recognises the orders of its lineage
as its own.

An intent is (lineage key, symbol, the decision that made it, the order's role, its side, its
rank):

- the **lineage key** names the account and the deployment that trades it (``app/venue.py``:
  venue, API key and database); it is hashed, never written out;
- the **decision** is :class:`~quantum_trader.domain.decisions.DecisionRef`'s ``decision_id``,
  ``<symbol>@<close time>``: one per symbol and closed candle, the same when the candle is
  decided again after a restart;
- the **role**: ``entry``, ``exit`` (reduce-only), ``stop_loss`` or ``take_profit``;
- the **rank**: the n-th order of the same role and side within that decision (0 nearly
  always), so that two orders of one decision never share an id.

The id is ``qt-<lineage tag>-<digest>``: ``qt-``, 6 hex characters of the lineage key's
SHA-256 (the prefix reconciliation recognises as ours), ``-`` and 24 hex characters (96 bits) of
the SHA-256 of the whole intent: 34 characters of ``[a-z0-9-]``, inside Binance's limit of 36
of ``[.A-Z:/a-z0-9_-]``. Two different intents share an id only if SHA-256 collides on 96 bits:
for n intents a chance of about n² / 2⁹⁷ (10⁻¹⁷ for a million orders).

>>> ids = IntentIds("testnet|key|sqlite:///x")
>>> cid = ids.client_order_id("BTCUSDT", "BTCUSDT@1710774000000", "entry", "BUY", 0)
>>> cid == ids.client_order_id("BTCUSDT", "BTCUSDT@1710774000000", "entry", "BUY", 0)
True
>>> len(cid), cid.startswith(ids.prefix), bool(BINANCE_CLIENT_ID.match(cid))
(34, True, True)
>>> cid == ids.client_order_id("BTCUSDT", "BTCUSDT@1710774000000", "exit", "SELL", 0)
False
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: what Binance USDT-M accepts as ``newClientOrderId``
BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
SCHEME = "qt"
ROLES = ("entry", "exit", "stop_loss", "take_profit")


def _hex(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def intent_role(reduce_only: bool, tag: str) -> str:
    """The role of an order: a bracket's tag (``stop_loss``, ``take_profit``), else ``exit``
    for a reduce-only order and ``entry`` for the rest."""
    if tag in ("stop_loss", "take_profit"):
        return tag
    return "exit" if reduce_only else "entry"


@dataclass(frozen=True, slots=True)
class IntentIds:
    """The id scheme of one lineage (see the module docstring)."""

    lineage_key: str

    def __post_init__(self) -> None:
        if not self.lineage_key:
            raise ValueError("IntentIds needs a non-empty lineage key (the account's)")

    @property
    def prefix(self) -> str:
        """What every id of this lineage starts with: reconciliation's mark of "ours"."""
        return f"{SCHEME}-{_hex(self.lineage_key, 6)}-"

    def client_order_id(
        self, symbol: str, decision_id: str, role: str, side: str, rank: int
    ) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown order role {role!r}; one of {ROLES}")
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        # a separator no field holds: ("a|b", "c") and ("a", "b|c") are different intents
        intent = "\x1f".join((self.lineage_key, symbol, decision_id, role, side, str(rank)))
        return f"{self.prefix}{_hex(intent, 24)}"
