"""Which venue takes the live candles' orders (``QT_VENUE`` / ``run --venue``): the gate, the
startup line, and the session venue that hands the account over from the replay's paper book to
the real venue (``execution/handover.py``) at the first current candle.

Paper (the default) changes nothing: the session keeps its simulated exchange. Testnet and live
need non-blank keys; live also needs ``QT_LIVE=true``, both notional caps (checked when the
settings load, ``config/venue_settings.py``) and the acknowledgement flag ``--confirm
I-ACCEPT-REAL-ORDERS`` typed on the command line, here. ``QT_OFFLINE=true`` never reaches a
venue, so it is refused with one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from quantum_trader.app.configs import exchange_config, funding_config
from quantum_trader.clock.clock import Clock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.config.settings import Settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.engine.session import SessionVenue, VenueFactory, specs_from
from quantum_trader.execution.ccxt_venue import CONFIRMATION, CcxtVenue
from quantum_trader.execution.client_ids import IntentIds
from quantum_trader.execution.handover import PaperThenVenue
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.protective_stops import (
    AdoptedEntries,
    Outcome,
    Protection,
    ProtectiveStops,
    StopPolicy,
    lineage_stops,
    record,
)
from quantum_trader.execution.reconciliation import (
    AuditEntry,
    apply,
    halt_by_kill_switch,
    local_book,
    reconcile,
)
from quantum_trader.execution.restart import crashed_intents
from quantum_trader.execution.simulated.exchange import SimulatedExchange
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingSchedule
from quantum_trader.execution.store import ExecutionStore, StoredRun
from quantum_trader.execution.venue_book import NotionalCaps, RemoteVenue, VenueBook
from quantum_trader.execution.venue_fees import LiveFees, read_live_fees
from quantum_trader.observability.logging import get_logger
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchStore
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.cost_gate import EntryCostGate

log = get_logger(__name__)

VENUE_NAMES = {
    "paper": "the simulated exchange (paper)",
    "testnet": "Binance USDT-M testnet (ccxt sandbox mode)",
    "live": "Binance USDT-M LIVE (real money)",
}

#: builds the real venue's adapter (``CcxtVenue`` over ccxt by default; tests: the double)
RemoteFactory = Callable[[Settings], RemoteVenue]


def check_venue_gate(settings: Settings, confirm: str) -> None:
    """Refuse a run on a real venue unless every switch is set; the message names what is
    missing (never a key's value)."""
    if settings.venue == "paper":
        return
    missing = []
    if settings.offline:
        missing.append("QT_OFFLINE=false (a venue is reached over the network)")
    if settings.binance_api_key is None or settings.binance_api_secret is None:
        missing.append("QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET")
    if settings.venue == "live" and confirm != CONFIRMATION:
        missing.append(f"--confirm {CONFIRMATION}")
    if missing:
        raise ConfigError(
            f"--venue {settings.venue} refused; missing: " + ", ".join(missing) + " (docs/live.md)"
        )


def caps_of(settings: Settings) -> NotionalCaps:
    return NotionalCaps(settings.live_max_order_notional, settings.live_max_daily_notional)


def venue_line(settings: Settings) -> str:
    """The one line a run starts with: which venue, which account, which limits."""
    name = VENUE_NAMES[settings.venue]
    if settings.venue == "paper":
        return f"venue: {name}; no exchange account, no real orders"
    key = settings.binance_api_key.get_secret_value() if settings.binance_api_key else ""
    account = f"key …{key[-4:]}" if len(key) >= 8 else "key set"
    return (
        f"venue: {name}, account {account}; the replay is paper, the live candles' orders go to "
        f"the venue; {caps_of(settings).describe()}; at most "
        f"{settings.venue_requests_per_minute} requests a minute"
    )


@dataclass(slots=True)
class VenueWiring:
    """What the main job plugs in: the session's venue factory (None: the simulated exchange
    alone), the live phase's ``on_current`` hook (:meth:`hand_over`, None on paper), and
    :meth:`attach`, which gives it the order journal, the scheduler and the risk engine."""

    venue: str = "paper"
    factory: VenueFactory | None = None
    on_current: Callable[[int], None] | None = None
    holder: list[PaperThenVenue] = field(default_factory=list)  # the session's, once built
    reconcile_every_ms: int = 0
    kill_switch: KillSwitch | None = None
    #: names the account and this deployment: the venue phase's client ids derive from it
    lineage_key: str = ""
    #: runs of this database the engine lock found dead (``app/run_lock.py``): the intents
    #: they committed unanswered are looked up at the handover (``execution/restart.py``)
    crashed_runs: tuple[str, ...] = ()
    #: the run's symbols and configured fees: the venue's rates replace these at the handover
    symbols: tuple[str, ...] = ()
    configured_fees: FeeSchedule = field(default_factory=FeeSchedule)
    #: what the handover read (``execution/venue_fees.py``); None before it
    fees: LiveFees | None = None
    _orders: OrderManager | None = None
    _scheduler: Scheduler | None = None
    _risk: RiskEngine | None = None
    _store: ExecutionStore | None = None
    _commit: Callable[[], None] | None = None
    _status: ModuleHandle | None = None
    _entry_gate: Callable[[], EntryCostGate | None] | None = None
    _crashed_loaded: dict[str, StoredRun] | None = None  # see _crashed
    #: the adopted entries whose later fills get a protective stop (set at the handover)
    _entries: AdoptedEntries | None = None

    def attach(
        self,
        orders: OrderManager,
        scheduler: Scheduler,
        risk: RiskEngine | None,
        *,
        store: ExecutionStore | None = None,
        commit: Callable[[], None] | None = None,
        status: ModuleHandle | None = None,
        entry_gate: Callable[[], EntryCostGate | None] | None = None,
    ) -> None:
        """``store``: where the crashed runs' checkpoints are read; ``commit``: the session's
        checkpoint, run before each venue request from the handover on (the write-ahead);
        ``status``: the execution module's handle (what the handover found is counted there);
        ``entry_gate``: the pipeline's cost gate, priced at the venue's fees from the handover."""
        self._orders, self._scheduler, self._risk = orders, scheduler, risk
        self._store, self._commit, self._status = store, commit, status
        self._entry_gate = entry_gate

    def hand_over(self, now: int) -> None:
        """The first current candle: the venue takes the account (``execution/handover.py``),
        the risk engine's peaks restart from its equity, client ids derive from the intent
        from now on (``execution/client_ids.py``), reconciliation runs at once and then on a
        schedule: after a crash, the earlier run's working orders (its stop-loss and
        take-profit) are the lineage's and are adopted, not halted on as foreign. Every
        adopted position gets a protective stop on the venue, or is reported naked
        (``execution/protective_stops.py``)."""
        if self._orders is None:
            raise RuntimeError("VenueWiring.attach was not called before the handover")
        # the replay's last closes: adopting a position marks it at the venue's entry price
        marks = self.holder[0].portfolio.mark_prices()
        report = self.holder[0].go_live(now)
        self._orders.use_intent_ids(IntentIds(self.lineage_key))
        commit = self._commit
        if commit is not None:  # a crash between the commit and the answer loses no intent
            self._orders.write_ahead = lambda _order: commit()
        self._settle_crashed(now)
        self._watch_adopted_entries()
        self.protect_adopted(report.adopted, now, marks)
        if self._risk is not None:
            self._risk.rebase_account()
        log.info("venue.handover", venue=self.venue, **report.summary())
        live = self.holder[0].live
        assert live is not None
        gate = self._entry_gate() if self._entry_gate is not None else None
        self.fees = use_venue_fees(
            live.remote, self.symbols, self.configured_fees, gate, self._status
        )
        self._start_reconciling(now)

    def _watch_adopted_entries(self) -> None:
        """An earlier run's resting entry that reconciliation adopts and that fills later
        opens a position this run holds no bracket for: its fill, heard by the poll, gets the
        protection an adopted position gets (``protective_stops.AdoptedEntries``)."""
        live, orders = self.holder[0].live, self._orders
        assert live is not None and orders is not None

        def protect(fill: Fill, _order: Order) -> None:
            self.protect_adopted({fill.symbol}, live.clock.now())

        self._entries = AdoptedEntries(orders, protect)
        live.set_listener(self._entries)

    def _settle_crashed(self, now: int) -> None:
        """What the crashed runs committed and never heard back about, looked up on the venue
        and reported, never sent (``execution/restart.py::crashed_intents``)."""
        crashed = self._crashed()
        if not crashed:
            return
        live = self.holder[0].live
        assert live is not None
        for intent in crashed_intents(crashed, _crashed_lookup(live.remote, crashed)):
            log.warning(
                "venue.crashed_intent",
                run_id=intent.run_id,
                client_order_id=intent.client_order_id,
                outcome=intent.outcome,
                at=now,
            )
            if self._status is not None:
                found = "found" if intent.found is not None else "dropped"
                self._status.count(f"crashed_intents_{found}")

    def _crashed(self) -> dict[str, StoredRun]:
        """The crashed runs' last checkpoints (run id → stored), read once: their unanswered
        intents and their entries' stops are read from them at the handover and at every
        later adoption, and a dead run's journal does not change."""
        if self._crashed_loaded is None:
            store = self._store
            loaded = {r: store.load(r) for r in self.crashed_runs} if store is not None else {}
            self._crashed_loaded = {r: run for r, run in loaded.items() if run is not None}
        return self._crashed_loaded

    def protect_adopted(
        self, symbols: Iterable[str], now: int, marks: Mapping[str, float] | None = None
    ) -> list[Protection]:
        """A stop on the venue for each adopted position of ``symbols`` without one working
        (``execution/protective_stops.py``): priced from the crashed runs' decisions, else
        from the risk policy's ``stop_loss_pct``; a naked one is logged as a warning and makes
        the execution module DEGRADED. ``marks``: the last prices (default: the book's)."""
        venue, orders = self.holder[0], self._orders
        positions = [venue.portfolio.position(s) for s in sorted(set(symbols))]
        positions = [p for p in positions if p.quantity != 0]
        if not positions or venue.live is None or orders is None:
            return []
        live = venue.live
        lineage = lineage_stops(self._crashed(), IntentIds(self.lineage_key).prefix)
        pct = self._risk.policy.current().stop_loss_pct if self._risk is not None else None
        mark = venue.portfolio.mark_price if marks is None else marks.get
        try:
            working = live.remote.open_orders()
        except TimeoutError as exc:  # the venue's stops unknown: none placed blind (a duplicate)
            reason = f"the venue's open orders could not be read: {exc}"
            results = [
                Protection(p.symbol, p.quantity, Outcome.NAKED, reason=reason) for p in positions
            ]
        else:
            stops = ProtectiveStops(orders, live.specs, mark)
            results = stops.protect(positions, working, StopPolicy(lineage, pct))
        record(results, self._status)
        for r in results:
            line = log.warning if r.outcome is Outcome.NAKED else log.info
            line(
                "venue.protective_stop",
                symbol=r.symbol,
                quantity=r.quantity,
                outcome=str(r.outcome),
                stop_price=r.stop_price,
                source=r.source,
                reason=r.reason,
                client_order_id=r.client_order_id,
                at=now,
            )
        return results

    def _start_reconciling(self, now: int) -> None:
        """The venue against the book now and every ``QT_RECONCILE_MINUTES`` of engine time;
        differences adopted with an audit line, or the kill switch engaged with the reason
        (``execution/reconciliation.py``). Fills are read from the handover on, never before:
        the positions and balance adopted at the handover hold those already."""
        if self._orders is None or self._scheduler is None or self.kill_switch is None:
            raise RuntimeError("VenueWiring.attach was not called before the handover")
        venue, orders, kill_switch = self.holder[0], self._orders, self.kill_switch
        last = [now]

        def check(t: int) -> None:
            live = venue.live
            assert live is not None
            book = local_book(orders, venue.portfolio)
            since = max(last[0] - RECONCILE_OVERLAP_MS, now)
            report = reconcile(live.remote, book, since_ms=since, at=t)
            by = f"reconciliation:{orders.run_id}"
            apply(
                report,
                journal=orders,
                portfolio=venue.portfolio,
                halt=halt_by_kill_switch(kill_switch, by),
                audit=_audit_line,
                by=by,
            )
            # adopted working orders are followed (polled, cancelled by the kill switch)
            live.follow(d.order for d in report.adopted if d.order is not None)
            if self._entries is not None:  # an adopted entry's later fill gets its stop
                self._entries.watch(d.order for d in report.adopted if d.order is not None)
            # a position the adopted fills moved gets its stop too (protect_adopted)
            self.protect_adopted({d.fill.symbol for d in report.adopted if d.fill}, t)
            last[0] = t

        check(now)

        def scheduled(t: int) -> None:
            """A venue that does not answer (``TimeoutError``: reads come before any write)
            is logged and counted, and the next period reads the same window again: a raise
            would end the live run when the job fell due on a candle."""
            try:
                check(t)
            except TimeoutError as exc:
                log.warning("venue.reconcile_unanswered", error=str(exc)[:200], at=t)
                if self._status is not None:
                    self._status.count("reconciliations_unanswered")

        self._scheduler.every(
            "venue.reconcile", self.reconcile_every_ms, scheduled, start_at=now + 1, catch_up=False
        )


def _crashed_lookup(
    remote: RemoteVenue, crashed: Mapping[str, StoredRun]
) -> Callable[[str], Order | None]:
    """``remote.fetch_order`` for the crashed runs' intents: ccxt's venue looks an order this
    session never sent up only with its symbol, which the crashed run's journal holds."""
    symbols = {cid: o.symbol for stored in crashed.values() for cid, o in stored.orders.items()}

    def lookup(cid: str) -> Order | None:
        symbol = symbols.get(cid)
        if isinstance(remote, CcxtVenue) and symbol is not None:
            return remote.fetch_order(cid, symbol)
        return remote.fetch_order(cid)

    return lookup


#: fills are fetched back this far before the last check (a fill reported late is still seen)
RECONCILE_OVERLAP_MS = 60 * 60 * 1000


def use_venue_fees(
    remote: object,
    symbols: Sequence[str],
    configured: FeeSchedule,
    gate: EntryCostGate | None,
    status: ModuleHandle | None,
) -> LiveFees:
    """The account's fee tier from the venue (``execution/venue_fees.py``): the cost gate
    prices the live phase's entries at its taker rate; or the configured fees stay, and the
    ``venue.fees`` line and the execution module's counters say why. A venue taker rate above
    the configured one is a warning: the replay priced entries below the account's cost."""
    fees = read_live_fees(remote, symbols, configured)
    if gate is not None:
        gate.config = replace(gate.config, taker_fee=fees.schedule.taker)
    cost_gate = "off" if gate is None else f"entries priced at taker {gate.config.taker_fee:g}"
    above = fees.above_configured
    if fees.source == "venue" and not above:
        log.info("venue.fees", cost_gate=cost_gate, **fees.summary())
    else:
        high = {r.symbol: r.taker for r in above}
        note = f"the venue's taker rate is above QT_TAKER_FEE on {sorted(high)}" if high else ""
        log.warning(
            "venue.fees",
            cost_gate=cost_gate,
            taker_above_configured=high,
            note=note,
            **fees.summary(),
        )
    if status is not None:
        status.count(f"fees_{fees.source}" + (f"_{fees.cause}" if fees.cause else ""))
        status.gauge("taker_fee_ppm", round(fees.schedule.taker * 1e6))
        status.gauge("maker_fee_ppm", round(fees.schedule.maker * 1e6))
        status.gauge("venue_taker_above_configured", len(above))
    return fees


def _audit_line(entry: AuditEntry) -> None:
    log.warning(
        "venue.reconcile",
        kind=str(entry.kind),
        subject=entry.subject,
        resolution=str(entry.resolution),
        reason=entry.reason,
        by=entry.by,
    )


def venue_wiring(
    settings: Settings,
    frames: Mapping[str, pd.DataFrame],
    funding: Mapping[str, Sequence[FundingRate]],
    clock: Clock,
    remote: RemoteFactory,
    kill_switch: KillSwitchStore,
) -> VenueWiring:
    """Paper: nothing to wire. Testnet or live: the replay on the simulated exchange (as the
    session would build it), then the venue from the first current candle on (the gate was
    checked before); ``kill_switch``: where the operator's switch is kept."""
    if settings.venue == "paper":
        return VenueWiring()
    wiring = VenueWiring(
        venue=settings.venue,
        reconcile_every_ms=settings.reconcile_minutes * 60_000,
        kill_switch=KillSwitch(kill_switch, clock),
        lineage_key=lineage_key(settings),
        symbols=tuple(frames),
        configured_fees=exchange_config(settings).fees,
    )
    specs = specs_from(frames)
    schedule = FundingSchedule(funding_config(settings), dict(funding))
    switch = wiring.kill_switch
    assert switch is not None

    def build(portfolio: Portfolio) -> SessionVenue:
        paper = SimulatedExchange(specs, portfolio, schedule, exchange_config(settings))

        def live() -> VenueBook:
            return VenueBook(
                remote(settings),
                portfolio,
                specs,
                clock,
                caps_of(settings),
                kill_switch_engaged=lambda: switch.engaged,
            )

        venue = PaperThenVenue(paper, portfolio, live)
        wiring.holder.append(venue)
        return venue

    wiring.factory, wiring.on_current = build, wiring.hand_over
    return wiring


def lineage_key(settings: Settings) -> str:
    """The account (venue and API key) and the deployment trading it (its database): a run
    that starts again on them is the same lineage, and recognises the orders of the runs
    before it as its own. Only hashed into the client ids (``execution/client_ids.py``)."""
    key = settings.binance_api_key.get_secret_value() if settings.binance_api_key else ""
    return f"{settings.venue}|{key}|{settings.effective_database_url}"


def ccxt_remote(settings: Settings) -> RemoteVenue:
    """The venue's adapter over ccxt's Binance USDT-M client (testnet: sandbox mode)."""
    from quantum_trader.adapters.ccxt_venue_client import build_ccxt_venue

    return build_ccxt_venue(settings, symbols=settings.symbols)
