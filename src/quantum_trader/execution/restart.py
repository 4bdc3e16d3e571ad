"""Starting again on a real venue after a crash (a ``kill -9``, a power cut): the journal the
last commit left, then the venue as the truth.

The process that starts again has the journal (orders with the ids derived from their intents,
``client_ids.py``; fill ids; the ledger) and the order manager's snapshot (the *unsent*
intents: committed before their request, no answer recorded). :func:`recover` then, in order:

1. hands the journal's open orders to the venue book (:meth:`VenueBook.follow`): looked up by
   client id, polled, cancellable by the kill switch, as if this process had sent them;
2. answers every unsent intent (:meth:`OrderManager.resend_unsent`): looked up by its client
   id first; sent, under that same id, only when the venue never received it; the venue's
   answer and fills are recorded the normal way;
3. polls the venue once: what filled while the engine was down is posted, once by fill id;
4. reconciles (``reconciliation.py``) and writes the adoptions: an order of the lineage the
   journal lacks (the crash came after the venue accepted it and before it was journalled) is
   adopted with its fills, everything else unexplained halts by the kill switch.

Then the engine decides the interrupted candle again: an intent it had already formed gets the
same client id and the order manager answers with the order it holds, sending nothing; an
intent that never reached the journal is sent then, once. Commit right after :func:`recover`:
what it recorded waits in the order manager's and the ledger's pending lists.

``run --venue`` starts a *new* run instead (it replays on paper, then the venue takes the
account over: ``execution/handover.py``), so the crashed run's candles are not decided again.
What the new run owes the crashed one is :func:`crashed_intents`: each intent the crashed run
committed with no venue answer recorded is looked up by its client id. One the venue has is the
lineage's, and reconciliation adopts it with its fills; one the venue lacks never reached it and
is not sent (its candle is past; the new run replayed it on paper). Both are reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quantum_trader.domain.orders import Order
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.reconciliation import (
    AuditEntry,
    ReconcileConfig,
    ReconciliationReport,
    apply,
    local_book,
    reconcile,
)
from quantum_trader.execution.store import StoredRun
from quantum_trader.execution.venue_book import VenueBook


@dataclass(frozen=True, slots=True)
class Recovery:
    """What :func:`recover` did: the unsent intents as the venue now holds them, the orders
    the poll refreshed, and the reconciliation with its audit entries."""

    answered: tuple[Order, ...]
    refreshed: int
    report: ReconciliationReport
    audit: tuple[AuditEntry, ...]

    @property
    def halted(self) -> bool:
        return bool(self.report.halts)


def recover(
    orders: OrderManager,
    book: VenueBook,
    *,
    since_ms: int,
    at: int,
    halt: Callable[[str], None],
    audit: Callable[[AuditEntry], None] | None = None,
    by: str = "restart",
    config: ReconcileConfig | None = None,
) -> Recovery:
    """Steps 1 to 4 of the module docstring. ``since_ms``: the venue's fills are read from
    here (at the latest the last commit before the crash); ``at``: the engine time now."""
    book.follow(orders.orders.values())
    answered = tuple(orders.resend_unsent())
    refreshed = book.poll()
    report = reconcile(
        book.remote, local_book(orders, book.portfolio), since_ms=since_ms, at=at, config=config
    )
    entries = apply(report, journal=orders, portfolio=book.portfolio, halt=halt, audit=audit, by=by)
    return Recovery(answered, refreshed, report, entries)


@dataclass(frozen=True, slots=True)
class CrashedIntent:
    """An intent a crashed run committed before its request (``OrderManager.write_ahead``) with
    no venue answer recorded: ``found`` is the venue's order under its id now, None when the
    request never reached the venue."""

    run_id: str
    client_order_id: str
    found: Order | None

    @property
    def outcome(self) -> str:
        if self.found is None:
            return "never reached the venue: not sent (its candle is past)"
        return f"reached the venue ({self.found.status.value}): the lineage's, adopted"


def unsent_in(state_json: str) -> tuple[str, ...]:
    """The unsent intents a checkpoint's state holds (none in checkpoints from before)."""
    orders = json.loads(state_json).get("orders", {})
    return tuple(orders.get("unsent", ()))


def crashed_intents(
    crashed: Mapping[str, StoredRun], lookup: Callable[[str], Order | None]
) -> list[CrashedIntent]:
    """The unsent intents of the last checkpoint of each crashed run (run id → its stored
    checkpoint), each looked up on the venue by its client id (``lookup``: the venue's
    ``fetch_order``); nothing is sent."""
    return [
        CrashedIntent(run_id, cid, lookup(cid))
        for run_id, stored in crashed.items()
        for cid in unsent_in(stored.state_json)
    ]
