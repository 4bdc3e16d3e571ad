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
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    # typer (0.2x) carries its own copy of click, and its group's methods are typed with it;
    # only the annotations name it, so nothing here depends on it at run time
    from typer._click import Command, Context, HelpFormatter


@dataclass(frozen=True, slots=True)
class Subcommand:
    """``module``'s Typer ``app``: a group named ``name``, or (``group=False``) the one command
    named ``name`` that it defines. ``help``: the first paragraph of its help (line breaks
    kept: the listing keeps them), what the top-level ``--help`` lists without importing the
    module (a test holds it equal to the command's own)."""

    module: str
    help: str
    group: bool = True


_CLI = "quantum_trader.app.cli."

#: in the order ``--help`` lists them, after the commands ``main.py`` defines itself
SUBCOMMANDS: dict[str, Subcommand] = {
    "intelligence": Subcommand(_CLI + "intelligence", "Ensemble intelligence state."),
    "models": Subcommand(_CLI + "models", "Model registry: list, show, promote, rollback."),
    "evaluate": Subcommand(_CLI + "evaluate", "Walk-forward evaluation of the direction models."),
    "backtest": Subcommand(
        _CLI + "backtest",
        "Run a backtest and print its metrics and the report path.",
        group=False,
    ),
    "train": Subcommand(
        _CLI + "train",
        "Train members on stored candles; store the artifacts; register each as a CANDIDATE.",
        group=False,
    ),
    "paper": Subcommand(
        _CLI + "paper",
        "Paper-trade through the main job's decision path and risk engine: a paced replay of\n"
        "[--start, --end), or --live-candles; print the metrics and the report's path.",
        group=False,
    ),
    "report": Subcommand(
        _CLI + "report",
        "Write a FINISHED run's metrics, trades, HTML report and summary.json again into\n"
        "QT_HOME/runs/RUN_ID, from the database and the candle store (a run killed while its report\n"
        "was written has none: `quantum-trader status` names it).",
        group=False,
    ),
    "serve": Subcommand(
        _CLI + "serve",
        "The HTTP API (/api/v1, /metrics) over the configured database, until Ctrl-C.",
        group=False,
    ),
    "up": Subcommand(
        _CLI + "services",
        "Start the service roles (engine, api; market-data with --redis-url) and supervise them\n"
        "until they end or Ctrl-C.",
        group=False,
    ),
    "study": Subcommand(
        _CLI + "study",
        "Walk every candidate of CANDIDATES.toml forward on the same folds; judge them together\n"
        "(DSR with the ledger's trials, probability of backtest overfitting).",
        group=False,
    ),
    "experiments": Subcommand(_CLI + "experiments", "A/B experiments: declare, list, show, stop."),
    "trials": Subcommand(_CLI + "trials", "The trial ledger: what was tried, on what."),
    "risk": Subcommand(_CLI + "risk", "Risk engine: kill switch, trading state, decisions."),
    "dead-letters": Subcommand(
        _CLI + "dead_letters", "The Redis bus's dead letters: list, show, replay, drop, trim."
    ),
    "data": Subcommand(_CLI + "data", "The local candle store: import, download, list, validate."),
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
    """The top-level group: its own commands, then ``SUBCOMMANDS``, imported when called.
    Its own ``--help`` lists them from the table: importing every module to print one line of
    each took ``quantum-trader --help`` 2.6–3.6 s."""

    _listing = False  # set while the group's help is written

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *SUBCOMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in SUBCOMMANDS:
            if self._listing:  # a name and a line to list, not a command to run
                return TyperCommand(cmd_name, help=SUBCOMMANDS[cmd_name].help)
            command = load(cmd_name)
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
