"""``quantum-trader``: the command line.

Sub-apps live in their own files (``data``, ``models``, ``backtest``, ``risk`` …) and are wired
here; this file holds only the top-level commands and the error boundary.
"""

from __future__ import annotations

import sys

import typer

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.app.cli.render import console, status_table, statuses_json
from quantum_trader.config.settings import load_settings, redacted
from quantum_trader.domain.errors import QuantumTraderError

app = typer.Typer(
    name="quantum-trader",
    help="Self-learning trading system for crypto perpetual futures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the effective configuration, secrets redacted."""
    import json

    from rich.table import Table

    values = redacted(load_settings())
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True, default=str))
        return
    table = Table(title="Effective configuration")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for key, value in values.items():
        table.add_row(key, json.dumps(value, default=str) if not isinstance(value, str) else value)
    console.print(table)


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show every module of the running or last-run engine: state, reason, evidence."""
    settings = load_settings()
    engine = open_database(settings.effective_database_url)
    statuses = SqlStatusRepository(engine).load_all()
    if as_json:
        typer.echo(statuses_json(statuses))
        return
    if not statuses:
        console.print(
            "No engine has run against "
            f"{redacted(settings)['effective_database_url']} yet: start one with `quantum-trader run`."
        )
        raise typer.Exit(1)
    console.print(status_table(statuses))


def main() -> None:
    """Console-script entry point: expected errors print one clear line, not a traceback."""
    try:
        app()
    except QuantumTraderError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
