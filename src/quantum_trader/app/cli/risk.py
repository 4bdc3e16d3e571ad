"""``quantum-trader risk``: the kill switch, the trading state and recent risk decisions.

The CLI writes the same database the engine reads; the engine checks the kill switch before
every order, so ``kill-switch on`` stops a running engine at its next order.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.time import fmt
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.state import TradingState, TradingStateChange

app = typer.Typer(
    help="Risk and safety: kill switch, trading state, decisions.", no_args_is_help=True
)
kill_switch_app = typer.Typer(
    help="Stop all new orders until released by hand.", no_args_is_help=True
)
app.add_typer(kill_switch_app, name="kill-switch")

console = Console()
CLI_ACTOR = "cli"


def _repository() -> SqlRiskRepository:
    return SqlRiskRepository(open_database(load_settings().effective_database_url))


def _show_kill_switch(repo: SqlRiskRepository) -> None:
    state = KillSwitch(repo, WallClock()).state()
    if state.engaged:
        console.print(
            f"[bold red]kill switch ENGAGED[/] since {fmt(state.changed_at)} by "
            f"{state.changed_by}: {state.reason}"
        )
    elif state.changed_at:
        console.print(
            f"[green]kill switch off[/] since {fmt(state.changed_at)} by {state.changed_by}: "
            f"{state.reason}"
        )
    else:
        console.print("[green]kill switch off[/] (never engaged)")


@kill_switch_app.command("on")
def kill_switch_on(
    reason: Annotated[str, typer.Option("--reason", help="Why trading stops (required).")],
) -> None:
    """Engage the kill switch: no new orders pass until ``kill-switch off``."""
    if not reason.strip():
        raise typer.BadParameter("say why trading stops", param_hint="--reason")
    repo = _repository()
    KillSwitch(repo, WallClock()).engage(reason, by=CLI_ACTOR)
    _show_kill_switch(repo)


@kill_switch_app.command("off")
def kill_switch_off(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume.")] = (
        "released by hand"
    ),
) -> None:
    """Release the kill switch."""
    repo = _repository()
    KillSwitch(repo, WallClock()).release(by=CLI_ACTOR, reason=reason)
    _show_kill_switch(repo)


@kill_switch_app.command("status")
def kill_switch_status() -> None:
    """Show whether the kill switch is engaged, since when, by whom and why."""
    _show_kill_switch(_repository())


@app.command("status")
def status() -> None:
    """Kill switch, last trading state and latest risk mode."""
    repo = _repository()
    _show_kill_switch(repo)
    change = repo.latest_state_change()
    if change is None:
        console.print("trading state: ACTIVE (no transition recorded)")
    else:
        latched = " (drawdown halt latched)" if change.halt_latched else ""
        console.print(
            f"trading state: [bold]{change.state}[/]{latched} since {fmt(change.at)}: {change.reason}"
        )
    mode = repo.latest_mode_change()
    if mode is not None:
        console.print(
            f"risk mode: [bold]{mode.mode}[/] since {fmt(mode.at)}: {'; '.join(mode.reasons)}"
        )


@app.command("reset-halt")
def reset_halt(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume (required).")],
) -> None:
    """Clear a latched drawdown halt; the engine re-assesses at its next order."""
    repo = _repository()
    last = repo.latest_state_change()
    if last is None or not last.halt_latched:
        console.print("no latched halt to reset")
        return
    repo.record_state_change(
        TradingStateChange(
            at=WallClock().now(),
            previous=last.state,
            state=TradingState.ACTIVE if last.state is TradingState.HALTED else last.state,
            reason=f"halt reset by hand: {reason}",
            by=CLI_ACTOR,
            halt_latched=False,
        )
    )
    console.print("latched halt cleared; the engine re-assesses drawdown at its next order")


@app.command("decisions")
def decisions(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """Recent risk decisions with their reasons."""
    table = Table("time", "symbol", "side", "outcome", "requested", "final", "state", "reasons")
    for row in _repository().recent_decisions(limit):
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
    console.print(table)
