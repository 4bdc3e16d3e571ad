"""``quantum-trader service ROLE`` and ``quantum-trader up``: the system as processes.

Two roles exist today: ``engine`` (the main job, ``quantum-trader run``: market data,
decision, risk, execution and learning in one process) and ``api`` (``quantum-trader
serve``). The split of the engine into the roles ``market-data``, ``decision``,
``risk-execution`` and ``learning`` (issue 21) is not built: asking for one of them is refused
with that said. ``up`` starts the roles under the supervisor (``services/supervisor.py``):
their output prefixed with the role, a crashed role restarted, Ctrl-C stopping them all.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from quantum_trader.app.cli.serve import CLI_COMMAND
from quantum_trader.domain.errors import ConfigError
from quantum_trader.services.supervisor import Role, Supervisor

app = typer.Typer()

#: the roles a process can run today
ROLES = ("engine", "api")
#: the roles of issue 21 that the engine role still hosts in one process
NOT_SPLIT = ("market-data", "decision", "risk-execution", "learning")


def check_role(role: str) -> str:
    """``role`` if it can run as a process; else ConfigError saying why."""
    if role in ROLES:
        return role
    if role in NOT_SPLIT:
        raise ConfigError(
            f"service role {role!r} is not built as a process of its own yet: the engine role "
            "runs market data, decision, risk and execution and learning in one process "
            "(`quantum-trader service engine`; docs/services.md)"
        )
    raise ConfigError(f"unknown service role {role!r}; roles: {', '.join(ROLES)}")


def role_commands(roles: list[str]) -> list[Role]:
    """The processes ``up`` starts: this interpreter running ``service <role>`` for each."""
    return [Role(role, (*CLI_COMMAND, "service", check_role(role))) for role in roles]


@app.command()
def up(
    roles: Annotated[
        list[str] | None, typer.Option("--role", help="a role to start (repeat); default: all")
    ] = None,
    max_restarts: Annotated[
        int, typer.Option(min=0, max=100, help="restarts of a crashed role before giving up")
    ] = 3,
) -> None:
    """Start the service roles (engine, api) and supervise them until they end or Ctrl-C."""
    chosen = list(dict.fromkeys(roles or ROLES))
    supervisor = Supervisor(role_commands(chosen), sys.stdout, max_restarts=max_restarts)
    raise typer.Exit(supervisor.run())
