"""SQL repository of the risk area: implements RiskJournal (decisions, trading state, the
breaker's memory), KillSwitchStore, ModeJournal and BenchJournal."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select

from quantum_trader.adapters.sql.hot_path import HotStatement
from quantum_trader.adapters.sql.tables_risk import (
    risk_breaker_state,
    risk_decisions,
    risk_kill_switch,
    risk_mode_changes,
    risk_trading_state,
    strategy_bench_changes,
)
from quantum_trader.bus.envelope import to_payload
from quantum_trader.clock.clock import WallClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.risk.decision import RiskDecision
from quantum_trader.risk.kill_switch import KillSwitchState
from quantum_trader.risk.state import BreakerMemory, TradingState, TradingStateChange
from quantum_trader.strategy.expectancy import BenchChange
from quantum_trader.strategy.risk_modes import ModeChange

# Built once: every order intent is journalled and checks the kill switch before it is sent,
# and building the statements per call (values() and their cache keys) was ~0.5 ms of each;
# they run through HotStatement (hot_path.py says why).
_INSERT_DECISION = insert(risk_decisions)
_DECISION_KEYS = (
    "decision_id",
    "time",
    "symbol",
    "side",
    "outcome",
    "requested_quantity",
    "final_quantity",
    "trading_state",
    "risk_mode",
    "reasons_json",
    "intent_json",
)
_LATEST_KILL_SWITCH = (
    select(
        risk_kill_switch.c.engaged,
        risk_kill_switch.c.reason,
        risk_kill_switch.c.changed_by,
        risk_kill_switch.c.changed_at,
    )
    .order_by(risk_kill_switch.c.id.desc())
    .limit(1)
)
# read on every closed candle by the live risk engine (``RiskEngine.refresh_state`` looks for
# an operator's halt reset): through SQLAlchemy's connection and result layers it cost ~164 µs
# of each decision on SQLite here (load 5), through HotStatement ~20 µs
_LATEST_STATE = (
    select(
        risk_trading_state.c.at,
        risk_trading_state.c.previous,
        risk_trading_state.c.state,
        risk_trading_state.c.reason,
        risk_trading_state.c.changed_by,
        risk_trading_state.c.halt_latched,
        risk_trading_state.c.recorded_at,
    )
    .order_by(risk_trading_state.c.id.desc())
    .limit(1)
)


def _decision_row(decision: RiskDecision) -> dict[str, Any]:
    intent = decision.intent
    return dict(  # the keys of _DECISION_KEYS
        decision_id=decision.decision_id,
        time=decision.time,
        symbol=intent.symbol,
        side=intent.side.value,
        outcome=decision.outcome.value,
        requested_quantity=intent.quantity,
        final_quantity=decision.final_quantity,
        trading_state=decision.trading_state.value,
        risk_mode=decision.risk_mode.value,
        reasons_json=json.dumps(list(decision.reasons)),
        intent_json=json.dumps(to_payload(intent), sort_keys=True),
    )


class SqlRiskRepository:
    """``wall``: the wall clock the trading-state and risk-mode rows' ``recorded_at`` is read
    from (ms); their ``at`` is the engine's time. ``actor``: who a risk-mode row names when its
    record names nobody (the controller of the run that writes it, ``engine:<run id>``)."""

    def __init__(
        self, engine: Engine, wall: Callable[[], int] | None = None, actor: str | None = None
    ) -> None:
        self._engine = engine
        self._wall = wall or WallClock().now
        self._actor = actor
        self._insert_decisions = HotStatement(engine, _INSERT_DECISION, _DECISION_KEYS)
        self._latest_kill_switch = HotStatement(engine, _LATEST_KILL_SWITCH)
        self._latest_state = HotStatement(engine, _LATEST_STATE)

    # --- decisions ------------------------------------------------------------------------
    def record_decision(self, decision: RiskDecision) -> None:
        self.record_decisions([decision])

    def record_decisions(self, decisions: Sequence[RiskDecision]) -> None:
        """Several decisions in one transaction, in order."""
        self._insert_decisions.insert_many([_decision_row(d) for d in decisions])

    def recent_decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, as plain rows (reasons decoded), for the CLI and reports."""
        t = risk_decisions
        stmt = select(t).order_by(t.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
        for row in rows:
            row["reasons"] = json.loads(row.pop("reasons_json"))
        return rows

    # --- trading state --------------------------------------------------------------------
    def record_state_change(self, change: TradingStateChange) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(risk_trading_state).values(
                    at=change.at,
                    previous=change.previous.value,
                    state=change.state.value,
                    reason=change.reason,
                    changed_by=change.by,
                    halt_latched=int(change.halt_latched),
                    recorded_at=self._wall(),
                )
            )

    def latest_state_change(self) -> TradingStateChange | None:
        latest = self.latest_state_recorded()
        return None if latest is None else latest[0]

    def latest_state_recorded(self) -> tuple[TradingStateChange, int | None] | None:
        """The latest trading-state change and the wall-clock time it was stored (None in rows
        older than that column). Kept beside the record, not in it: the record is also the
        ``risk.state.changed`` payload, whose wire format stays as it is."""
        r = self._latest_state.first()
        if r is None:
            return None
        at, previous, state, reason, by, halt_latched, recorded_at = r
        change = TradingStateChange(
            at=int(at),
            previous=TradingState(previous),
            state=TradingState(state),
            reason=reason,
            by=by,
            halt_latched=bool(halt_latched),
        )
        return change, None if recorded_at is None else int(recorded_at)

    # --- the drawdown breaker's memory -----------------------------------------------------
    def record_breaker(self, memory: BreakerMemory) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(risk_breaker_state).values(
                    at=memory.at,
                    breaker_peak=memory.breaker_peak,
                    all_time_peak=memory.all_time_peak,
                    releases=memory.releases,
                    reducing_by_drawdown=int(memory.reducing_by_drawdown),
                    reducing_since=memory.reducing_since,
                    flat_since=memory.flat_since,
                )
            )

    def latest_breaker(self) -> BreakerMemory | None:
        t = risk_breaker_state
        stmt = select(t).order_by(t.c.id.desc()).limit(1)
        with self._engine.connect() as conn:
            r = conn.execute(stmt).mappings().first()
        if r is None:
            return None
        return BreakerMemory(
            at=int(r["at"]),
            breaker_peak=float(r["breaker_peak"]),
            all_time_peak=float(r["all_time_peak"]),
            releases=int(r["releases"]),
            reducing_by_drawdown=bool(r["reducing_by_drawdown"]),
            reducing_since=None if r["reducing_since"] is None else int(r["reducing_since"]),
            flat_since=None if r["flat_since"] is None else int(r["flat_since"]),
        )

    # --- kill switch ----------------------------------------------------------------------
    def append_kill_switch(self, state: KillSwitchState) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(risk_kill_switch).values(
                    engaged=int(state.engaged),
                    reason=state.reason,
                    changed_by=state.changed_by,
                    changed_at=state.changed_at,
                )
            )

    def latest_kill_switch(self) -> KillSwitchState | None:
        row = self._latest_kill_switch.first()
        if row is None:
            return None
        engaged, reason, changed_by, changed_at = row
        return KillSwitchState(bool(engaged), reason, changed_by, int(changed_at))

    # --- risk modes -----------------------------------------------------------------------
    def record_mode_change(self, change: ModeChange) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(risk_mode_changes).values(
                    at=change.at,
                    previous=None if change.previous is None else change.previous.value,
                    mode=change.mode.value,
                    reasons_json=json.dumps(list(change.reasons)),
                    health_json=json.dumps(dict(change.health), sort_keys=True),
                    policy_version=change.policy_version,
                    recorded_at=self._wall(),
                    changed_by=change.by or self._actor,
                )
            )

    def mode_changes(self) -> list[ModeChange]:
        t = risk_mode_changes
        with self._engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.id)).mappings().all()
        return [_mode_change(r) for r in rows]

    def latest_mode_change(self) -> ModeChange | None:
        t = risk_mode_changes
        stmt = select(t).order_by(t.c.id.desc()).limit(1)
        with self._engine.connect() as conn:
            r = conn.execute(stmt).mappings().first()
        return None if r is None else _mode_change(r)

    # --- strategies benched for their expectancy --------------------------------------------
    def record_bench_change(self, change: BenchChange) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(strategy_bench_changes).values(
                    at=change.at,
                    strategy=change.strategy,
                    regime=change.regime,
                    benched=int(change.benched),
                    until=change.until,
                    trades=change.trades,
                    mean_return=change.mean_return,
                    t_stat=change.t_stat,
                    reason=change.reason,
                )
            )

    def bench_changes(self) -> list[BenchChange]:
        """Every bench and re-admission, oldest first."""
        t = strategy_bench_changes
        with self._engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.id)).mappings().all()
        return [
            BenchChange(
                at=int(r["at"]),
                strategy=r["strategy"],
                regime=r["regime"],
                benched=bool(r["benched"]),
                until=None if r["until"] is None else int(r["until"]),
                trades=int(r["trades"]),
                mean_return=float(r["mean_return"]),
                t_stat=float(r["t_stat"]),
                reason=r["reason"],
            )
            for r in rows
        ]


def _mode_change(r: RowMapping) -> ModeChange:
    return ModeChange(
        at=int(r["at"]),
        previous=None if r["previous"] is None else RiskMode(r["previous"]),
        mode=RiskMode(r["mode"]),
        reasons=tuple(json.loads(r["reasons_json"])),
        health=json.loads(r["health_json"]),
        policy_version=int(r["policy_version"]),
        recorded_at=_wall_time(r),
        by=r["changed_by"],
    )


def _wall_time(r: RowMapping) -> int | None:
    return None if r["recorded_at"] is None else int(r["recorded_at"])
