"""What the routes read, through the same adapters as the CLI (``app/cli``): database rows in,
response bodies out. No route reads a table directly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.locked import write_while_locked
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.api import schemas as s
from quantum_trader.api.stamps import ExperimentStamp
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.status.services import process_of_modules


def modules_and_processes(
    engine: Engine, now: int | None = None
) -> tuple[list[s.ModuleOut], list[s.ProcessOut]]:
    """Every module, with the process that reports it, and the processes serving the database
    (``status/services.py``), all read once and judged at one wall time ``now`` (default: the
    wall clock's now), so a process never reads UP in one list and DOWN in the other."""
    wall = WallClock().now() if now is None else now
    running = SqlServiceHealth(engine).load_all()
    owners = process_of_modules(running, wall)
    modules = []
    for m in SqlStatusRepository(engine).load_all():
        owner = owners.get(m.name)
        modules.append(
            s.ModuleOut(
                name=m.name, enabled=m.enabled, state=m.state.value, reason=m.reason,
                run_id=m.run_id, last_heartbeat=m.last_heartbeat,
                last_activity=m.last_activity, counters=dict(m.counters),
                process=None if owner is None else owner.process_id,
                process_state=None if owner is None else owner.state(wall).value,
            )
        )  # fmt: skip
    processes = [
        s.ProcessOut(
            process_id=p.process_id, role=p.role, host=p.host, pid=p.pid, run_id=p.run_id,
            state=p.state(wall).value, started_at=p.started_at, beat_at=p.beat_at,
            down_after_ms=p.down_after_ms(), modules=list(p.modules),
        )
        for p in running
    ]  # fmt: skip
    return modules, processes


def kill_switch(engine: Engine, clock: Clock) -> s.KillSwitchOut:
    state = KillSwitch(SqlRiskRepository(engine), clock).state()
    return s.KillSwitchOut(
        engaged=state.engaged,
        reason=state.reason,
        changed_by=state.changed_by,
        changed_at=state.changed_at,
    )


def set_kill_switch(engine: Engine, clock: Clock, on: bool, reason: str, actor: str) -> None:
    """Engage or release the switch the engine reads before its next decision (as ``risk
    kill-switch on|off``), audited under ``actor``."""
    switch = KillSwitch(SqlRiskRepository(engine), clock)
    if on:
        write_while_locked(
            lambda: switch.engage(reason, by=actor), "the kill switch is NOT engaged"
        )
    else:
        write_while_locked(
            lambda: switch.release(by=actor, reason=reason), "the kill switch is NOT released"
        )


def risk(engine: Engine, clock: Clock) -> s.RiskOut:
    repo = SqlRiskRepository(engine)
    latest = repo.latest_state_recorded()
    state = None
    if latest is not None:
        change, recorded_at = latest
        state = s.TradingStateOut(
            state=change.state.value,
            previous=change.previous.value,
            reason=change.reason,
            by=change.by,
            at=change.at,
            recorded_at=recorded_at,
            halt_latched=change.halt_latched,
        )
    mode = repo.latest_mode_change()
    mode_out = None
    if mode is not None:
        mode_out = s.RiskModeOut(
            mode=mode.mode.value,
            reasons=list(mode.reasons),
            at=mode.at,
            recorded_at=mode.recorded_at,
        )
    return s.RiskOut(
        kill_switch=kill_switch(engine, clock), trading_state=state, risk_mode=mode_out
    )


def risk_decisions(engine: Engine, limit: int) -> list[s.RiskDecisionOut]:
    return [s.RiskDecisionOut(**_fields(row, s.RiskDecisionOut)) for row in
            SqlRiskRepository(engine).recent_decisions(limit)]  # fmt: skip


def last_run_trades(engine: Engine, clock: Clock, limit: int) -> s.RunRecordsOut:
    """The last run's newest ``limit`` trades, read with a limit (not the whole run)."""
    last = SqlRunLock(engine, clock.now).last_run()
    if last is None:
        return s.RunRecordsOut(run_id=None)
    recent = SqlExecutionStore(engine).recent_trades(last.run_id, limit)
    trades = [
        s.TradeOut(**{**_fields(vars_of(t), s.TradeOut), "side": t.side.value}) for t in recent
    ]
    return s.RunRecordsOut(run_id=last.run_id, trades=trades)


def last_run_orders(engine: Engine, clock: Clock, limit: int) -> s.RunRecordsOut:
    """The last run's newest ``limit`` orders, read with a limit (not the whole run)."""
    last = SqlRunLock(engine, clock.now).last_run()
    if last is None:
        return s.RunRecordsOut(run_id=None)
    orders = [
        s.OrderOut(
            **{
                **_fields(vars_of(o), s.OrderOut),
                "side": o.side.value,
                "order_type": o.order_type.value,
                "status": o.status.value,
            }
        )
        for o in SqlExecutionStore(engine).recent_orders(last.run_id, limit)
    ]
    return s.RunRecordsOut(run_id=last.run_id, orders=orders)


def model_versions(engine: Engine) -> list[s.ModelVersionOut]:
    return [
        s.ModelVersionOut(
            key=str(v.key),
            version=v.version,
            stage=v.stage.value,
            artifact_hash=v.artifact_hash,
            created_at=v.created_at,
        )
        for v in SqlRegistryRepository(engine).versions()
    ]


def experiment_names(engine: Engine) -> list[str]:
    return SqlExperimentStore(engine).names()


def experiment(engine: Engine, name: str, *, detail: bool) -> s.ExperimentOut | None:
    """One experiment as ``experiments list`` (``detail``: as ``experiments show``)."""
    store = SqlExperimentStore(engine)
    stored = store.load(name)
    if stored is None:
        return None
    e = Experiment(stored, store)
    r = e.result
    head: dict[str, Any] = {
        "name": name,
        "status": e.status.value,
        "arms": list(e.spec.arm_names),
        "control": e.spec.control,
        "samples": r.samples,
        "probabilities": dict(r.probabilities),
        "verdict": r.verdict.value,
        "arm": r.arm,
        "summary": e.summary(),
    }
    if not detail:
        return s.ExperimentOut(**head)
    return s.ExperimentDetailOut(
        **head,
        spec=json.loads(e.spec.to_json()),
        comparisons={arm: str(reading) for arm, reading in r.comparisons.items()},
        srm=r.srm.summary(),
        audit=[s.AuditOut(at=a.at, event=a.event, detail=a.detail) for a in stored.audit],
    )


class ExperimentList:
    """The experiments as ``/experiments`` lists them, each read again only when its stamp
    changed: reading one replays its sequential test over every stored observation (about
    100 ms for 1,000), so one new observation should cost one experiment's replay, not all."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read: dict[str, tuple[ExperimentStamp, s.ExperimentOut]] = {}

    def __call__(self, stamps: Mapping[str, ExperimentStamp]) -> list[s.ExperimentOut]:
        """``stamps``: every stored experiment's (``stamps.experiment_stamps``), by name."""
        out = []
        for name, stamp in stamps.items():
            known = self._read.get(name)
            if known is None or known[0] != stamp:
                found = experiment(self._engine, name, detail=False)
                if found is None:  # deleted since the stamps were read
                    continue
                known = self._read[name] = (stamp, found)
            out.append(known[1])
        for gone in set(self._read) - set(stamps):
            del self._read[gone]
        return out


def trials(engine: Engine, limit: int) -> list[s.TrialOut]:
    return [
        s.TrialOut(
            id=trial_id,
            symbols=list(t.symbols),
            metrics=dict(t.metrics),
            **_fields(vars_of(t), s.TrialOut, skip={"id", "symbols", "metrics"}),
        )
        for trial_id, t in SqlTrialLedger(engine).entries(None, limit=limit)
    ]


def vars_of(record: object) -> dict[str, Any]:
    """A slotted dataclass's fields as a dict (``vars`` needs a ``__dict__``)."""
    names = getattr(record, "__dataclass_fields__", {})
    return {name: getattr(record, name) for name in names}


def _fields(
    row: Mapping[str, Any], model: type[s.Out], skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    return {k: row[k] for k in model.model_fields if k in row and k not in skip}
