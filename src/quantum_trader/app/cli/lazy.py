"""The CLI's sub-commands, each imported when it is called.

Importing every command file at start cost every command the imports of all the others: the
main job, scipy.stats, the A/B machinery, alembic … (``python -X importtime``: 1.8 s of the
CLI's import was the sub-command files). An operator's ``risk kill-switch on`` should not wait
for the main job's imports. click documents this pattern (a group whose ``get_command`` imports
the command on demand); :class:`LazyGroup` is that, on typer's group class, so the top level's
``--help`` and every command's own options are unchanged.

``SUBCOMMANDS`` is the one list of what the files under ``app/cli/`` add to the top level: a
name and the module whose ``app`` holds it. A named group (``risk``, ``models`` …) is the
module's whole ``app``; a top-level command (``backtest``, ``up`` …) is the one command its
module's ``app`` defines (``tests/app/cli/test_lazy_commands.py`` checks that each module
defines exactly what is listed here).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # typer (0.2x) carries its own copy of click, and its group's methods are typed with it;
    # only the annotations name it, so nothing here depends on it at run time
    from typer._click import Command, Context


@dataclass(frozen=True, slots=True)
class Subcommand:
    """``module``'s Typer ``app``: a group named ``name``, or (``group=False``) the one command
    named ``name`` that it defines."""

    module: str
    group: bool = True


_CLI = "quantum_trader.app.cli."

#: in the order ``--help`` lists them, after the commands ``main.py`` defines itself
SUBCOMMANDS: dict[str, Subcommand] = {
    "intelligence": Subcommand(_CLI + "intelligence"),
    "models": Subcommand(_CLI + "models"),
    "evaluate": Subcommand(_CLI + "evaluate"),
    "backtest": Subcommand(_CLI + "backtest", group=False),
    "train": Subcommand(_CLI + "train", group=False),
    "paper": Subcommand(_CLI + "paper", group=False),
    "report": Subcommand(_CLI + "report", group=False),
    "serve": Subcommand(_CLI + "serve", group=False),
    "up": Subcommand(_CLI + "services", group=False),
    "study": Subcommand(_CLI + "study", group=False),
    "experiments": Subcommand(_CLI + "experiments"),
    "trials": Subcommand(_CLI + "trials"),
    "risk": Subcommand(_CLI + "risk"),
    "dead-letters": Subcommand(_CLI + "dead_letters"),
    "data": Subcommand(_CLI + "data"),
}


@cache
def load(name: str) -> Command:
    """The click command of ``SUBCOMMANDS[name]``, its module imported now."""
    entry = SUBCOMMANDS[name]
    typer_app = importlib.import_module(entry.module).app
    group = typer.main.get_group(typer_app)
    if entry.group:
        group.name = name
        return group
    # the one command, not typer.main.get_command (which adds a root's completion options)
    commands = group.commands
    if list(commands) != [name]:
        raise RuntimeError(f"{entry.module} defines {sorted(commands)}, listed as {name!r} only")
    return commands[name]


class LazyGroup(TyperGroup):
    """The top-level group: its own commands, then ``SUBCOMMANDS``, imported when called."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *SUBCOMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in SUBCOMMANDS:
            command = load(cmd_name)
        return command
