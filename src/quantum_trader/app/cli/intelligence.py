"""``quantum-trader intelligence``: what the adaptive modules have learned, from stored state."""

from __future__ import annotations

import typer
from rich.table import Table

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.app.cli.render import console
from quantum_trader.app.configs import intelligence_config
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.time import fmt
from quantum_trader.intelligence import Intelligence

app = typer.Typer(help="Ensemble intelligence state.", no_args_is_help=True)


@app.callback()
def intelligence() -> None:
    """Memory states, reinforcement, drift and covariate shift (stored state)."""


@app.command("show")
def show(
    prefix: str = typer.Option("intelligence", help="State key prefix the engine saved under."),
) -> None:
    """Print learned weights, hit-rate memories, drift statistics and running shifts."""
    settings = load_settings()
    repo = SqlIntelligenceStateRepository(open_settings_database(settings))
    intel = Intelligence(intelligence_config(settings, state_prefix=prefix), repository=repo)
    restored = intel.restore()
    if not restored:
        console().print(f"No intelligence state under '{prefix}/' yet: run the engine first.")
        raise typer.Exit(1)
    console().print(
        f"pending predictions: {len(intel.ledger)}, resolved: {intel.ledger.resolved_total}"
    )
    if intel.reinforcement is not None:
        table = Table(title="reinforcement: learned weights")
        for col in ("symbol", "weights"):
            table.add_column(col)
        for symbol, weights in intel.reinforcement.snapshot().items():
            table.add_row(symbol, ", ".join(f"{m}={w:.3f}" for m, w in weights.items()))
        console().print(table)
    if intel.memory is not None:
        table = Table(title="memory_states: EWMA hit rate")
        for col in ("symbol", "model", "ewma", "outcomes"):
            table.add_column(col)
        for symbol, model, ewma, n in intel.memory.snapshot():
            table.add_row(symbol, model, f"{ewma:.3f}", str(n))
        console().print(table)
    if intel.drift is not None:
        table = Table(title="drift_detection: CUSUM on loss")
        for col in ("symbol", "model", "statistic", "reference", "last drift"):
            table.add_column(col)
        for symbol, model, stat, ready, last in intel.drift.snapshot():
            when = fmt(last) if last is not None else "never"
            table.add_row(symbol, model, f"{stat:.2f}", "fitted" if ready else "warming up", when)
        console().print(table)
    if intel.covariate is not None:
        shifts = intel.covariate.active()
        text = ", ".join(f"{s}/{m} (severity {v:.2f})" for (s, m), v in shifts.items()) or "none"
        console().print(f"covariate_shift: running shifts: {text}")
