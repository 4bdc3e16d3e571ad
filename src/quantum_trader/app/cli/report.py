"""``quantum-trader report RUN_ID``: write a finished run's metrics, trades, HTML report and
summary again, from the database and the candle store (``app/report_recovery.py``): the report
of a run killed while it was written, which ``status`` names."""

from __future__ import annotations

import typer

from quantum_trader.app.cli.render import console
from quantum_trader.config.settings import load_settings

app = typer.Typer()


@app.command()
def report(
    run_id: str = typer.Argument(..., help="the FINISHED run whose report to write"),
) -> None:
    """Write a FINISHED run's metrics, trades, HTML report and summary.json again into
    QT_HOME/runs/RUN_ID, from the database and the candle store (a run killed while its report
    was written has none: `quantum-trader status` names it)."""
    from quantum_trader.app.report_recovery import rebuild_report

    outputs = rebuild_report(load_settings(), run_id)
    console().print(f"report: [bold]{outputs['report']}[/]")
    console().print(f"summary: {outputs['summary']}", highlight=False)
