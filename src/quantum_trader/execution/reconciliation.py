"""Reconciliation: at start and on a schedule, the venue is the truth.

The venue's open orders, positions, balance and recent fills are compared with what the ledger
and the order journal hold (a :class:`LocalBook`). Every difference goes into the report with a
resolution, none is dropped: **adopted** (the journal or ledger entry to write, and the audit
reason) or **halt** (the reason, with the numbers). :func:`reconcile` only reads;
``reconciliation_apply.apply`` writes the adoptions and halts the engine. Never assume flat: a
position the venue holds and the ledger cannot explain stops trading until a person looks.

Policy, in the order the checks run:

1. **Open orders on the venue.** One of ours (its client id starts with one of our prefixes:
   ``{run_id}-``, and on a real venue the lineage's ``qt-<tag>-``, ``client_ids.py``, which an
   earlier run on the same account shares) that the journal lacks is adopted as an open order; one the journal holds in
   another state is adopted at the venue's state (its fills are checked below); one the journal
   holds as finished while the venue has it open halts. A **foreign** order (not our client
   id) halts: "foreign order on the account"; it is never cancelled silently. Save one: a
   close-all order set by hand (``closePosition``, ``ccxt_mapping.closes_position``), which
   can only close the position, and which the protective stops count: no difference.
2. **Orders the journal holds open that the venue does not list as open** are looked up by
   client id (``fetch_order``): a terminal state is adopted; an order the venue never heard of
   halts.
3. **Fills the venue has and the journal lacks.** A fill of an order we know (journalled, or
   adopted above, or found by lookup under our prefix) is adopted: the order manager journals it
   and the portfolio posts it the normal way (position, realised PnL, fee). A fill of a foreign
   order, of an order the venue cannot find, or one that would overfill its order halts; save
   the fill of a close-all order set by hand: adopted, when the venue says it is one (listed
   before, or found by the trade's order id: the stop that became that order).
4. **Positions.** The ledger's positions plus the adopted fills give the expected position per
   symbol. One the ledger lacks or holds at another size is adopted when the adopted fills
   explain it exactly (no extra entry: the fills write it); else it halts with the ledger's,
   the expected and the venue's quantities.
5. **Balance.** The ledger's wallet balance plus the adopted fills' realised PnL and fees
   gives the expected balance. A difference within ``balance_tolerance`` is adopted as a
   FEE (venue lower) or FUNDING (venue higher) ledger entry of exactly the difference; beyond
   it the engine halts with the numbers.

Writing (``apply``): an adopted order goes to the order journal as an order update; an adopted
fill goes to the order journal (``on_fill``, through ``OrderManager.adopt_fill``) and to the
portfolio (``apply_fill``) with the ledger reference ``reconcile:<client id>``; a balance
adjustment is a ledger entry with the reference ``reconcile:balance``. Each adoption also gives
an :class:`AuditEntry` (who, when, what, why) to the ``audit`` sink. A halt engages the kill
switch with the reason
(:func:`halt_by_kill_switch`): the one HALTED that is persisted and holds until a person lifts
it; a HALTED state change written to the risk journal instead would be undone by the breaker's
next assessment.

Fill ids (``forget_fills_read``): after writing, the order journal and the account forget the
ids of fills dated before the window this reconciliation read, but those of orders the venue
may still report again (open in the journal, or with a fill adopted here that the venue's copy
of the order may lack); the function says why no reader can report a forgotten fill again.

Halts and adoptions are independent: the adoptions of a report that also halts are still
written (they are the venue's truth), and the halt keeps the engine from trading on the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.domain.positions import Position
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.reconciliation_checks import (
    Comparison,
    Difference,
    Discrepancy,
    LocalBook,
    Resolution,
)
from quantum_trader.portfolio.ledger import LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.kill_switch import KillSwitch

__all__ = [
    "AuditEntry",
    "Difference",
    "Discrepancy",
    "LocalBook",
    "ReconcileConfig",
    "ReconciliationReport",
    "ReconcilingVenue",
    "Resolution",
    "VenueAccount",
    "apply",
    "forget_fills_read",
    "halt_by_kill_switch",
    "local_book",
    "reconcile",
]


class VenueAccount(Protocol):
    """The account reads reconciliation needs from a venue (ccxt and simulated)."""

    def positions(self) -> dict[str, Position]: ...

    def balance(self) -> float: ...

    def open_orders(self) -> list[Order]: ...

    def recent_fills(self, since_ms: int) -> list[Fill]: ...


class ReconcilingVenue(VenueAccount, Protocol):
    """An account that can also look an order up by client id (the ``Venue`` port has it)."""

    def fetch_order(self, client_order_id: str) -> Order | None: ...


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """Tolerances of the comparison.

    ``balance_tolerance`` (USDT) is the largest unexplained wallet difference adopted as a
    fee/funding adjustment; ``quantity_tolerance`` the largest position difference taken as
    equal (float sums of step-rounded quantities).
    """

    balance_tolerance: float = 1.0
    quantity_tolerance: float = 1e-8

    def __post_init__(self) -> None:
        for name in ("balance_tolerance", "quantity_tolerance"):
            if not 0.0 <= getattr(self, name) < float("inf"):
                raise DomainValidationError(
                    "ReconcileConfig", name, getattr(self, name), "must be finite and >= 0"
                )


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    at: int
    differences: tuple[Difference, ...] = ()
    #: what the venue reported, for the operator's summary
    venue_balance: float = 0.0
    venue_positions: Mapping[str, Position] = field(default_factory=dict)
    #: where the venue's fills were read from (``reconcile``'s ``since_ms``)
    since: int = 0

    @property
    def clean(self) -> bool:
        return not self.differences

    @property
    def adopted(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.resolution is Resolution.ADOPTED)

    @property
    def halts(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.resolution is Resolution.HALT)

    @property
    def halt_reason(self) -> str:
        """All halt reasons in one line ("" when nothing halts)."""
        return "; ".join(f"{d.kind} {d.subject}: {d.reason}" for d in self.halts)


def reconcile(
    venue: ReconcilingVenue,
    local: LocalBook,
    *,
    since_ms: int,
    at: int,
    config: ReconcileConfig | None = None,
) -> ReconciliationReport:
    """Compare the venue's account with ``local``; reads only (see the module docstring).

    ``since_ms``: how far back the venue's fills are fetched (at least to the last checkpoint
    the journal was written at); ``at``: the engine time the report is dated.
    """
    cfg = config or ReconcileConfig()
    venue_open = venue.open_orders()
    venue_fills = venue.recent_fills(since_ms)
    venue_positions = {s: p for s, p in venue.positions().items() if p.quantity != 0}
    venue_balance = venue.balance()
    run = Comparison(venue.fetch_order, local)
    run.open_orders(venue_open)
    run.closed_orders({o.client_order_id for o in venue_open})
    adopted = run.fills(venue_fills)
    expected = run.expected_book(adopted)
    run.positions(venue_positions, expected, adopted, cfg.quantity_tolerance)
    run.balance(venue_balance, expected, cfg.balance_tolerance)
    return ReconciliationReport(at, tuple(run.out), venue_balance, venue_positions, since_ms)


# --------------------------------------------------------------------------- reading the book
def local_book(
    orders: OrderManager, portfolio: Portfolio, prefixes: tuple[str, ...] = ()
) -> LocalBook:
    """What the order journal and the ledger hold now. Our client ids start with one of the
    order manager's ``id_prefixes`` (its run's, and the lineage's on a real venue), or with
    any of ``prefixes``."""
    return LocalBook(
        orders=orders.orders,
        fill_ids=orders.fill_ids,
        positions=portfolio.positions(),
        balance=portfolio.wallet_balance,
        prefixes=(*orders.id_prefixes, *prefixes),
        fills_from=orders.fills_from,
    )


# --------------------------------------------------------------------------- writing it
#: the ledger reference of what reconciliation wrote (followed by the client id or "balance")
LEDGER_REF = "reconcile"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One adoption or halt, for the audit trail: who (``by``), when (``at``), what, why."""

    at: int
    kind: Discrepancy
    subject: str
    resolution: Resolution
    reason: str
    by: str


def halt_by_kill_switch(kill_switch: KillSwitch, by: str) -> Callable[[str], None]:
    """The ``halt`` of :func:`apply`: engage the kill switch with the reason, as ``by``
    (``"reconciliation:<run id>"``). The risk engine reads it before every order and goes
    HALTED with "kill switch engaged: <reason>" until a person releases it."""

    def halt(reason: str) -> None:
        kill_switch.engage(reason, by=by)

    return halt


def apply(
    report: ReconciliationReport,
    *,
    journal: OrderManager,
    portfolio: Portfolio,
    halt: Callable[[str], None],
    audit: Callable[[AuditEntry], None] | None = None,
    by: str = "reconciliation",
) -> tuple[AuditEntry, ...]:
    """Write the report's adoptions and halt on its halts; returns the audit entries.

    ``journal`` is the order manager (its venue-callback side: order updates and fills);
    ``portfolio`` the account book whose ledger the fills and adjustments go to. The entries
    wait in the order manager's and the ledger's pending lists: the next checkpoint persists
    them (run one right after). ``halt`` is called once, with every halt reason.
    """
    entries: list[AuditEntry] = []
    for diff in report.differences:
        if diff.resolution is Resolution.ADOPTED:
            _write(diff, report.at, journal, portfolio)
        entry = AuditEntry(report.at, diff.kind, diff.subject, diff.resolution, diff.reason, by)
        entries.append(entry)
        if audit is not None:
            audit(entry)
    if report.halts:
        halt(f"reconciliation: {report.halt_reason}")
    forget_fills_read(report, journal, portfolio)
    return tuple(entries)


def forget_fills_read(
    report: ReconciliationReport, orders: OrderManager, portfolio: Portfolio
) -> int:
    """Bound the fill ids the order journal and the account keep (``portfolio/seen_fills.py``):
    forget those of fills dated before the start of the window this reconciliation read
    (``report.since``), except those of :meth:`OrderManager.orders_read_again`; returns how
    many the journal forgot. No reader can report a forgotten fill again:

    * reconciliation: the scheduled windows only move forward (``app/venue.py``: from the last
      check less ``RECONCILE_OVERLAP_MS``, never before the handover), so the next one starts
      at or after this one; a read from further back (``restart.recover``'s ``since_ms``)
      meets :attr:`LocalBook.fills_from` and adopts no fill of a finished order dated before it;
    * the venue's poll (``CcxtVenue.poll``, a lookup by client id) reports an order's trades
      past the quantity its copy of the order holds: again only for an order whose copy is
      behind the journal, which is one open in the journal (its copy rebuilt from the journal
      after a restart) or one whose fills reconciliation adopted (held until the venue reports
      it finished): both kept whatever their fills' age;
    * the simulated exchange reports each fill once (ids ``<client id>-F<n>``) and no replay
      reconciles: nothing is forgotten there.
    """
    keep = orders.orders_read_again()
    portfolio.forget_fills_before(report.since, keep)
    return orders.forget_fills_before(report.since, keep)


def _write(diff: Difference, at: int, journal: OrderManager, portfolio: Portfolio) -> None:
    order, fill = diff.order, diff.fill
    if fill is not None and order is not None:
        ref = f"{LEDGER_REF}:{fill.client_order_id}"
        portfolio.post_fill(fill, ref, order.reason, "reconciled", order.decision)
        journal.adopt_fill(fill, order)  # held: the venue's copy of its order may lack it
    elif order is not None:
        journal.on_order_update(order)
    elif diff.ledger_amount is not None:
        kind = LedgerKind.FEE if diff.ledger_amount < 0 else LedgerKind.FUNDING
        portfolio.ledger.append(at, kind, "", diff.ledger_amount, f"{LEDGER_REF}:balance")
