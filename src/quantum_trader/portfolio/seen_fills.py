"""The ids of the fills an account (``Portfolio``) or an order journal (``OrderManager``) has
taken, each with its fill's time and order, and the rule by which old ones are forgotten.

A venue reports a fill again (its stream and a poll, a poll of an order whose copy is behind
the journal, a reconciliation re-reading its window); taken twice it would double a position.
So each keeps the ids it took, and a checkpoint keeps them too. Kept forever they grow with
every fill; :meth:`SeenFills.forget_before` drops the ids of fills dated before a *horizon*
whose order is not among ``keep_orders``: the caller (``execution/reconciliation.py::apply``)
decides the horizon from the read windows, and says there why no reader can report such a
fill again. Ids restored from a checkpoint written before fills were dated carry no time and
are never forgotten (they are as many as that checkpoint held).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

#: the time of an id restored without one (an older checkpoint): never forgotten
UNDATED = -1


class SeenFills:
    """Fill id → (fill time, client order id), and the horizon forgotten up to."""

    __slots__ = ("_seen", "horizon")

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, str]] = {}
        #: ids of fills dated before it may have been forgotten (0: none was)
        self.horizon = 0

    def __contains__(self, fill_id: object) -> bool:
        return fill_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, fill_id: str, time: int, order_id: str) -> bool:
        """Take ``fill_id``; False (nothing changes) when it was taken before."""
        if fill_id in self._seen:
            return False
        self._seen[fill_id] = (int(time), order_id)
        return True

    def ids(self) -> frozenset[str]:
        return frozenset(self._seen)

    def forget_before(self, horizon: int, keep_orders: Container[str]) -> int:
        """Forget the ids of fills dated before ``horizon`` unless their order is in
        ``keep_orders``; returns how many. The horizon never moves back."""
        self.horizon = max(self.horizon, horizon)
        cut = self.horizon
        old = [
            k
            for k, (t, order) in self._seen.items()
            if UNDATED < t < cut and order not in keep_orders
        ]
        for k in old:
            del self._seen[k]
        return len(old)

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """``fill_ids`` sorted as checkpoints always held them; their times and orders and the
        horizon beside them."""
        ids = sorted(self._seen)
        return {
            "fill_ids": ids,
            "fill_times": {k: list(self._seen[k]) for k in ids if self._seen[k][0] != UNDATED},
            "fills_from": self.horizon,
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """From :meth:`snapshot`'s keys; a checkpoint with ``fill_ids`` alone (written before
        fills were dated) gives undated ids, one with none gives none."""
        times = snap.get("fill_times") or {}
        self._seen = {}
        for k in snap.get("fill_ids", ()):
            time, order = times.get(k, (UNDATED, ""))
            self._seen[str(k)] = (int(time), str(order))
        self.horizon = int(snap.get("fills_from", 0))
