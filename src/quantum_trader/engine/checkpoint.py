"""A trading session's checkpoints: the event log's hash chain, and the transactional commit
and restore of everything mutable (portfolio, venue, orders, trader, event log, cursor).

A checkpoint holds the replay cursor, a JSON snapshot of all mutable state, and the new orders,
fills, trades, ledger entries and equity points, written in one transaction. Started again with
the same run id on the same database, a session resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.clock.clock import Clock, SimulatedClock
from quantum_trader.domain.canonical import canonical_bytes
from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.orders import Fill
from quantum_trader.domain.positions import Trade
from quantum_trader.engine.engine import Engine
from quantum_trader.engine.trader import Trader
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.store import CheckpointBatch, ExecutionStore
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle

BufferedEvent = tuple[str, int, str, tuple[str, ...], tuple[object, ...]]


class EventLog:
    """A hash chain over every bus event (type, time, source, payload).

    Events are buffered as they come and folded into the digest every ``fold_every`` events,
    so the hot path only appends a tuple. Checkpoints carry the unfolded buffer, so the digest
    does not depend on where checkpoints fell.

    A fold hashes the :func:`canonical_bytes` of ``(key tuples, events)``: each event as
    ``(type, time, source, k, values)``, its payload's values in order and ``k`` the index of
    its payload's keys among the fold's distinct key tuples (in order of first appearance).
    That is the same information as the payload mappings, but each distinct key tuple is
    encoded once per fold instead of with every event (the keys were half the bytes).
    """

    def __init__(self, fold_every: int = 64) -> None:
        self.digest = ""
        self.buffer: list[BufferedEvent] = []
        self._fold_every = fold_every

    def record(
        self, type: str, time: int, source: str, keys: tuple[str, ...], values: tuple[object, ...]
    ) -> None:
        """The bus recorder (a bound method: cheaper to call than an instance's ``__call__``)."""
        self.buffer.append((type, time, source, keys, values))
        if len(self.buffer) >= self._fold_every:
            self.fold()

    def fold(self) -> None:
        if self.buffer:
            schemas: dict[tuple[str, ...], int] = {}
            events = [
                (t, time, src, schemas.setdefault(keys, len(schemas)), values)
                for t, time, src, keys, values in self.buffer
            ]
            chain = hashlib.sha256(self.digest.encode() + b"\n")
            chain.update(canonical_bytes((list(schemas), events)))
            self.digest = chain.hexdigest()
            self.buffer = []

    def final(self) -> str:
        self.fold()
        return self.digest

    def state(self) -> dict[str, Any]:
        """The digest and the unfolded events, as JSON that gives them back exactly: payload
        values through :func:`tagged`, so a resumed session folds the same bytes."""
        return {
            "event_hash": self.digest,
            "event_buffer_encoding": TAGGED,
            "event_buffer": [
                [t, time, src, list(keys), [tagged(v) for v in values]]
                for t, time, src, keys, values in self.buffer
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.digest = state["event_hash"]
        exact = state.get("event_buffer_encoding") == TAGGED
        self.buffer = [buffered_event(raw, exact=exact) for raw in state["event_buffer"]]


#: the checkpoint's encoding of unfolded payload values (absent: written before 2026-12-06,
#: when nested tuples came back as lists and nested mappings in sorted key order)
TAGGED = "tagged-v1"


def tagged(value: Any) -> Any:
    """A payload value as JSON that :func:`untagged` turns back into an equal value of the same
    types: a tuple as ``{"t": [...]}``, a mapping as ``{"d": [[key, value], ...]}`` in its own
    order (the checkpoint's JSON sorts object keys, and the digest hashes the order)."""
    if isinstance(value, tuple):
        return {"t": [tagged(v) for v in value]}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, dict):
        return {"d": [[tagged(k), tagged(v)] for k, v in value.items()]}
    return value


def untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [untagged(v) for v in value]
    if isinstance(value, dict):
        if "t" in value:
            return tuple(untagged(v) for v in value["t"])
        return {untagged(k): untagged(v) for k, v in value["d"]}
    return value


def buffered_event(raw: list[Any], *, exact: bool = False) -> BufferedEvent:
    """An unfolded event from a checkpoint: ``[type, time, source, keys, values]`` (values
    :func:`tagged` when ``exact``), or (written before 2026-12-02)
    ``[type, time, source, [[key, value], ...]]``."""
    if len(raw) == 4:
        pairs = raw[3]
        return raw[0], int(raw[1]), raw[2], tuple(k for k, _ in pairs), tuple(v for _, v in pairs)
    values = tuple(untagged(v) for v in raw[4]) if exact else tuple(raw[4])
    return raw[0], int(raw[1]), raw[2], tuple(raw[3]), values


class RestorableVenue(Protocol):
    """What a checkpoint needs from the venue (``session.SessionVenue`` has it): its state."""

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, snap: Any, known: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What a checkpoint reads and restores."""

    portfolio: Portfolio
    venue: RestorableVenue
    orders: OrderManager
    trader: Trader
    engine: Engine
    clock: Clock
    event_log: EventLog


class Checkpointer:
    """Commits the session's changes every ``every`` candles (and at every order, fill or ledger
    change while ``commit_on_change``), and restores the last checkpoint of a run id.

    Also a bar handler with the fast-forward capability: the candle that reaches the regular
    checkpoint interval is processed one by one (so it commits there).

    ``before_commit`` runs before each commit writes: a composition root that buffers records
    the committed orders depend on (the risk decisions that approved them) writes them there,
    so no checkpoint holds an order whose approval a crash could lose.
    """

    def __init__(
        self,
        store: ExecutionStore | None,
        run_id: str,
        fingerprint: str,
        parts: SessionParts,
        *,
        every: int,
        commit_on_change: bool,
        ledger_handle: ModuleHandle | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.before_commit = before_commit
        self.run_id = run_id
        self.fingerprint = fingerprint
        self.parts = parts
        self.every = every
        self.commit_on_change = commit_on_change
        self._ledger_handle = ledger_handle
        self.cursor = 0
        self.resumed_from = 0
        self._last_commit = 0
        self._equity_committed = 0
        self.stored_trades: list[Trade] = []
        self.stored_fills: list[Fill] = []

    # ------------------------------------------------------------------ restore
    def restore(self, initial_balance: float, first_open: int) -> bool:
        """Load the last checkpoint of this run id (or deposit the initial balance on a fresh
        start); True when the run had already finished."""
        p = self.parts
        stored = self.store.load(self.run_id) if self.store is not None else None
        if stored is None:
            p.portfolio.deposit(initial_balance, first_open, "initial balance")
            return False
        state = json.loads(stored.state_json)
        if state["fingerprint"] != self.fingerprint:
            raise ConfigError(
                f"run {self.run_id} exists in the database with different inputs or settings; "
                "use another run id"
            )
        p.portfolio.ledger.load(stored.ledger)
        p.portfolio.restore(state["portfolio"])
        p.portfolio.equity_times = [t for t, _ in stored.equity]
        p.portfolio.equity_values = [e for _, e in stored.equity]
        self._equity_committed = len(stored.equity)
        if state["equity_tail"] is not None:
            p.portfolio.equity_times.append(int(state["equity_tail"][0]))
            p.portfolio.equity_values.append(float(state["equity_tail"][1]))
        p.venue.restore(state["exchange"], stored.orders)
        p.orders.restore(state["orders"], stored.orders)
        p.trader.restore(state["strategy"])
        p.event_log.restore(state)
        p.engine.resume_from({k: int(v) for k, v in state["last_close"].items()})
        if isinstance(p.clock, SimulatedClock):
            p.clock.advance_to(stored.last_time)
        self.stored_trades = stored.trades
        self.stored_fills = stored.fills
        self.cursor = self.resumed_from = self._last_commit = stored.cursor
        return stored.finished

    # ------------------------------------------------------------------ commit
    def _has_changes(self) -> bool:
        return self.parts.portfolio.ledger.has_pending or bool(self.parts.orders.pending_orders)

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        self.cursor += 1
        if self.cursor - self._last_commit >= self.every or (
            self.commit_on_change and self._has_changes()
        ):
            self.commit(finished=False)

    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        if self.commit_on_change and self._has_changes():
            return start
        due = start + self.every - (self.cursor - self._last_commit) - 1
        return max(start, min(stop, due))

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        self.cursor += stop - start

    def commit(self, *, finished: bool) -> None:
        if self.store is None:
            return
        if self.before_commit is not None:
            self.before_commit()
        p = self.parts
        orders, fills = p.orders.drain()
        trades = p.portfolio.pending_trades
        p.portfolio.pending_trades = []
        ledger = p.portfolio.ledger.drain_pending()
        times, values = p.portfolio.equity_times, p.portfolio.equity_values
        upto = len(times) if finished else max(len(times) - 1, self._equity_committed)
        equity = list(
            zip(
                times[self._equity_committed : upto],
                values[self._equity_committed : upto],
                strict=True,
            )
        )
        self._equity_committed = upto
        self.store.commit(
            CheckpointBatch(
                run_id=self.run_id,
                cursor=self.cursor,
                last_time=p.clock.now(),
                finished=finished,
                state_json=json.dumps(
                    self._state(times, values, upto), sort_keys=True, separators=(",", ":")
                ),
                orders=orders,
                fills=fills,
                trades=trades,
                ledger=ledger,
                equity=equity,
            )
        )
        self._last_commit = self.cursor
        if self._ledger_handle is not None and ledger:
            self._ledger_handle.count("ledger_entries", len(ledger))

    def _state(self, times: list[int], values: list[float], upto: int) -> dict[str, Any]:
        p = self.parts
        return {
            "fingerprint": self.fingerprint,
            "portfolio": p.portfolio.snapshot(),
            "exchange": p.venue.snapshot(),
            "orders": p.orders.snapshot(),
            "strategy": p.trader.state(),
            **p.event_log.state(),
            "last_close": p.engine.last_close,
            # the latest equity point may still change (another symbol closing at the same
            # time); it travels in the snapshot until a later time completes it
            "equity_tail": [times[upto], values[upto]] if upto < len(times) else None,
        }
