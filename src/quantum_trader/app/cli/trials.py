"""``quantum-trader trials``: the trial ledger (``evaluation/ledger.py``), read only.

Every evaluation, backtest and candidate validation is recorded there; nothing deletes from it.
``trials list`` shows them newest first, with the inputs the deflated Sharpe ratio takes from
the whole ledger: N, the distinct configurations tried (baselines and the gate's validations
left out), and V, the variance of their per-candle Sharpe ratios. A validation's Sharpe ratio
is its candidate's replay of the validation window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config.redaction import redact_url
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.domain.time import MS_PER_DAY, to_datetime
from quantum_trader.evaluation.ledger import KINDS, Trial, annualised, dsr_inputs

app = typer.Typer(help="The trial ledger: what was tried, on what.", no_args_is_help=True)

COLUMNS = (
    "id",
    "recorded",
    "kind",
    "name",
    "config",
    "code",
    "symbols",
    "tf",
    "data window",
    "seed",
    "periods",
    "Sharpe (ann.)",
    "net return",
    "trades",
)
#: names a figure goes by in the metrics of the runs that record trials
_NET_RETURN = ("total_return", "net_return")
_TRADES = ("trade_count", "trades")


@app.command("list")
def list_trials(
    kind: str | None = typer.Option(None, "--kind", help=f"only one kind: {', '.join(KINDS)}"),
    limit: int = typer.Option(50, "--limit", min=1, help="show at most this many, newest first"),
) -> None:
    """The recorded trials, newest first, and the deflated Sharpe ratio's N and V."""
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"{kind!r}: give one of {', '.join(KINDS)}", param_hint="--kind")
    storage = load_storage_settings()
    ledger = SqlTrialLedger(open_settings_database(storage))
    console = Console()  # per command: the terminal width is read when it runs
    entries = ledger.entries(kind, limit=limit)
    if not entries:
        where = redact_url(storage.effective_database_url)
        console.print(
            f"No {kind + ' ' if kind else ''}trials recorded in {escape(where)} yet: "
            "`quantum-trader backtest`, `run` and `evaluate` record theirs.",
            highlight=False,
        )
        return
    console.print(trials_table(entries))
    for line in dsr_lines(ledger.trials()):
        console.print(line, highlight=False)


def trials_table(entries: Sequence[tuple[int, Trial]]) -> Table:
    table = Table(title="Trial ledger (newest first)")
    for column in COLUMNS:
        right = column in {"id", "seed", "periods", "Sharpe (ann.)", "net return", "trades"}
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for trial_id, t in entries:
        sharpe = "n/a" if t.sharpe is None else f"{annualised(t.sharpe, t.timeframe):.2f}"
        net = _figure(t.metrics, _NET_RETURN)
        trades = _figure(t.metrics, _TRADES)
        table.add_row(
            str(trial_id),
            to_datetime(t.recorded_at).strftime("%Y-%m-%d %H:%M"),
            t.kind,
            escape(t.name),
            t.config_hash[:10],
            escape(t.code_version),
            ",".join(t.symbols),
            t.timeframe,
            f"{_when(t.data_start)} → {_when(t.data_end)}",
            str(t.seed),
            f"{t.periods:,}",
            sharpe,
            "n/a" if net is None else f"{net:+.2%}",
            "n/a" if trades is None else f"{int(trades):,}",
        )
    return table


def dsr_lines(trials: Sequence[Trial]) -> list[str]:
    """The DSR's inputs over ``trials`` (the whole ledger); per timeframe as well when the
    ledger holds several, whose per-candle Sharpe ratios are in different units."""
    n, v = dsr_inputs(trials)
    lines = [
        f"DSR inputs (whole ledger, baselines and validations left out): N = {n} distinct "
        "configurations, "
        f"V = {v:.4g} (variance of their per-candle Sharpe ratios)"
    ]
    timeframes = sorted({t.timeframe for t in trials})
    if len(timeframes) > 1:
        lines.append("per timeframe (per-candle Sharpe ratios of different timeframes differ):")
        for timeframe in timeframes:
            n_tf, v_tf = dsr_inputs([t for t in trials if t.timeframe == timeframe])
            lines.append(f"  {timeframe}: N = {n_tf}, V = {v_tf:.4g}")
    return lines


def _figure(metrics: Mapping[str, float | int | None], names: Sequence[str]) -> float | None:
    for name in names:
        value = metrics.get(name)
        if value is not None:
            return float(value)
    return None


def _when(ms: int) -> str:
    """A day where the time is midnight (most windows), else day and time."""
    pattern = "%Y-%m-%d" if ms % MS_PER_DAY == 0 else "%Y-%m-%d %H:%M"
    return to_datetime(ms).strftime(pattern)
