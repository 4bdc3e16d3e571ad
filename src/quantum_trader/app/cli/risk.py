"""``quantum-trader risk``: the kill switch, the trading state and recent risk decisions.

The CLI writes the same database the engine reads; the engine checks the kill switch before
every order, so ``kill-switch on`` stops a running engine at its next order. These commands
read only where the database is (QT_HOME, QT_DATABASE_URL, or ``--db``), never the other
settings: an operator can stop trading even while an unrelated setting is invalid. The risk
engine (whose warm-up imports the features and pandas) is imported by the commands that use
it, not by ``kill-switch``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from quantum_trader.adapters.sql.locked import write_while_locked
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.app.cli.audit import actor_name, audited_reason
from quantum_trader.app.cli.render import console
from quantum_trader.app.storage import kill_switch_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.domain.time import fmt
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.portfolio_view import OpenPosition

app = typer.Typer(help="Risk engine: kill switch, trading state, decisions.", no_args_is_help=True)
kill_switch_app = typer.Typer(
    help="Stop all new orders until released by hand.", no_args_is_help=True
)
app.add_typer(kill_switch_app, name="kill-switch")


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL; default: QT_DATABASE_URL, else the SQLite file under QT_HOME.",
    ),
]


def _repository(db: str | None) -> SqlRiskRepository:
    return SqlRiskRepository(kill_switch_database(db))


def _written(write: Callable[[], object], what: str) -> None:
    """``write()``, waiting for a database another process is writing (saying so once)."""

    def tell(budget: float) -> None:
        console(stderr=True).print(
            f"the database is locked by another writer: waiting up to {budget:g} s"
        )

    write_while_locked(write, f"the kill switch is NOT {what}", on_wait=tell)


def _show_kill_switch(repo: SqlRiskRepository) -> None:
    state = KillSwitch(repo, WallClock()).state()
    if state.engaged:
        console().print(
            f"[bold red]kill switch ENGAGED[/] since {fmt(state.changed_at)} by "
            f"{state.changed_by}: {state.reason}"
        )
    elif state.changed_at:
        console().print(
            f"[green]kill switch off[/] since {fmt(state.changed_at)} by {state.changed_by}: "
            f"{state.reason}"
        )
    else:
        console().print("[green]kill switch off[/] (never engaged)")


@kill_switch_app.command("on")
def kill_switch_on(
    reason: Annotated[str, typer.Option("--reason", help="Why trading stops (required).")],
    db: DbOption = None,
) -> None:
    """Engage the kill switch: no new orders pass until ``kill-switch off``."""
    reason = audited_reason(reason, "say why trading stops")
    repo = _repository(db)
    switch = KillSwitch(repo, WallClock())
    _written(lambda: switch.engage(reason, by=actor_name(None)), "engaged")
    _show_kill_switch(repo)


@kill_switch_app.command("off")
def kill_switch_off(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume.")] = (
        "released by hand"
    ),
    db: DbOption = None,
) -> None:
    """Release the kill switch."""
    repo = _repository(db)
    switch = KillSwitch(repo, WallClock())
    _written(lambda: switch.release(by=actor_name(None), reason=reason), "released")
    _show_kill_switch(repo)


@kill_switch_app.command("status")
def kill_switch_status(db: DbOption = None) -> None:
    """Show whether the kill switch is engaged, since when, by whom and why."""
    _show_kill_switch(_repository(db))


@app.command("status")
def status(db: DbOption = None) -> None:
    """Kill switch, last trading state and latest risk mode."""
    from quantum_trader.risk.engine import ENGINE_ACTOR_PREFIX

    engine = kill_switch_database(db)
    repo = SqlRiskRepository(engine)
    _show_kill_switch(repo)
    latest = repo.latest_state_recorded()
    if latest is None:
        console().print("trading state: ACTIVE (no transition recorded)")
    else:
        change, recorded_at = latest
        latched = " (drawdown halt latched)" if change.halt_latched else ""
        text = (
            f"[bold]{change.state}[/]{latched} since {fmt(change.at)}"
            f"{_recorded(recorded_at)} by {change.by}: {change.reason}"
        )
        last = SqlRunLock(engine, WallClock().now).last_run()
        engine_run = change.by.startswith(ENGINE_ACTOR_PREFIX)
        writer = change.by.removeprefix(ENGINE_ACTOR_PREFIX)
        if engine_run and last is not None and last.run_id != writer:
            # each run starts ACTIVE (app/run_scope.py): an earlier run's state is not the last's
            console().print(
                f"trading state: ACTIVE: the last run, {last.run_id} ({last.status}), recorded "
                f"no change; before it, run {writer}'s: {text}"
            )
        else:
            console().print(f"trading state: {text}")
    mode = repo.latest_mode_change()
    if mode is not None:
        console().print(
            f"risk mode: [bold]{mode.mode}[/] since {fmt(mode.at)}{_recorded(mode.recorded_at)}"
            f"{'' if mode.by is None else f' by {mode.by}'}: {'; '.join(mode.reasons)}"
        )


def _recorded(wall: int | None) -> str:
    """The wall-clock time a change was stored, beside its engine time (a replay's candle)."""
    return "" if wall is None else f" (recorded {fmt(wall)})"


class _NoBook:
    """The CLI holds no portfolio: the engine that trades re-assesses health on its own book."""

    def _refuse(self) -> NoReturn:
        raise RuntimeError("the risk CLI holds no portfolio; the running engine re-assesses")

    def equity(self) -> float:
        self._refuse()

    def peak_equity(self) -> float:
        self._refuse()

    def daily_pnl(self) -> float:
        self._refuse()

    def open_positions(self) -> Mapping[str, OpenPosition]:
        self._refuse()

    def mark_price(self, symbol: str) -> float | None:
        self._refuse()

    def last_candle_close_time(self, symbol: str) -> int | None:
        self._refuse()


@app.command("reset-halt")
def reset_halt(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume (required).")],
    db: DbOption = None,
) -> None:
    """Clear a latched drawdown halt; the engine re-assesses at its next order."""
    reason = audited_reason(reason, "say why trading may resume")
    from quantum_trader.domain.policy import TradingPolicy
    from quantum_trader.risk.config import RiskConfig
    from quantum_trader.risk.engine import RiskEngine
    from quantum_trader.risk.policy_source import FixedPolicySource

    repo = _repository(db)
    clock = WallClock()
    engine = RiskEngine(
        config=RiskConfig(),
        portfolio=_NoBook(),
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(repo, clock),
        journal=repo,
        clock=clock,
    )
    if not engine.halt_latched:
        console().print("no latched halt to reset")
        return
    engine.reset_halt(by=actor_name(None), reason=reason, reassess=False)
    console().print("latched halt cleared; the engine re-assesses drawdown at its next order")


@app.command("decisions")
def decisions(
    # min=1: SQL's LIMIT -1 is no limit at all (SQLite), so a negative value listed every row
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    db: DbOption = None,
) -> None:
    """Recent risk decisions with their reasons."""
    table = Table("time", "symbol", "side", "outcome", "requested", "final", "state", "reasons")
    for row in _repository(db).recent_decisions(limit):
        table.add_row(
            fmt(row["time"]),
            row["symbol"],
            row["side"],
            row["outcome"],
            f"{row['requested_quantity']:g}",
            f"{row['final_quantity']:g}",
            row["trading_state"],
            "; ".join(row["reasons"]),
        )
    console().print(table)
