"""``quantum-trader``: the command line.

Sub-apps live in their own files (``data``, ``models``, ``backtest``, ``risk`` …), listed in
``lazy.py`` and imported when called; this file holds only the top-level commands and the error
boundary, and imports at its top only what every command needs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from quantum_trader.app.cli.lazy import LazyGroup
from quantum_trader.app.cli.options import key_prefix, redis_url_or_setting
from quantum_trader.app.cli.render import console
from quantum_trader.config.redaction import redacted
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import ConfigError, QuantumTraderError

if TYPE_CHECKING:  # redis is imported by `service engine --redis-url` only
    from sqlalchemy import Engine

    from quantum_trader.adapters.candle_stream import CandleStreamSource

app = typer.Typer(
    name="quantum-trader",
    help="Self-learning trading system for crypto perpetual futures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,  # the sub-commands of the other files, imported when called (lazy.py)
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
    console().print(table)


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Whether the engine is running (which run, since when, its wall-clock heartbeat) and
    every module of the running or last-run engine: state, reason, evidence; a FINISHED run
    whose report was not written (killed while writing it), with the command that writes it.
    Exits 3 when the last run died without finishing (killed: its module states are those it
    last flushed)."""
    from quantum_trader.adapters.sql.repositories import SqlStatusRepository
    from quantum_trader.adapters.sql.service_health import SqlServiceHealth
    from quantum_trader.app.cli.render import services_table, status_table, statuses_json
    from quantum_trader.app.report_staging import unwritten_reports
    from quantum_trader.app.run_lock import engine_liveness
    from quantum_trader.app.storage import open_settings_database
    from quantum_trader.clock.clock import WallClock
    from quantum_trader.status.services import process_of_modules

    settings = load_settings()
    engine = open_settings_database(settings)
    statuses = SqlStatusRepository(engine).load_all()
    liveness = engine_liveness(engine)
    processes, wall = SqlServiceHealth(engine).load_all(), WallClock().now()
    if as_json:
        typer.echo(statuses_json(statuses, process_of_modules(processes, wall), wall))
    elif not statuses:
        console().print(
            "No engine has run against "
            f"{redacted(settings)['effective_database_url']} yet: start one with `quantum-trader run`."
        )
        raise typer.Exit(1)
    else:
        colour = "green" if liveness.alive else ("red" if liveness.died else "yellow")
        console().print(liveness.line, style=colour, markup=False, highlight=False)
        if not liveness.alive:
            console().print("module states below are those the last run flushed", highlight=False)
        for unwritten in unwritten_reports(settings.home):  # a run killed writing its report
            console().print(unwritten.line(), style="yellow", markup=False, highlight=False)
        console().print(status_table(statuses))
        if processes:
            console().print(services_table(processes, wall))
        _running_experiments(engine)
    if liveness.died:
        raise typer.Exit(3)


def _running_experiments(engine: Engine) -> None:
    """The experiments still running: samples, allocation and current intervals."""
    from quantum_trader.adapters.sql.experiments import SqlExperimentStore
    from quantum_trader.experiments.experiment import Experiment
    from quantum_trader.experiments.records import ExperimentStatus

    store = SqlExperimentStore(engine)
    for name in store.names():
        if store.status(name) is not ExperimentStatus.RUNNING:
            continue  # read a finished experiment's records only when it is shown
        stored = store.load(name)
        if stored is not None:
            line = Experiment(stored, store).summary()
            console().print(f"experiment {line}", markup=False, highlight=False)


@app.command()
def run(
    synthetic: bool = typer.Option(
        False,
        "--synthetic",
        help="Replay a seeded, labelled SYNTHETIC market instead of real data.",
    ),
    venue: str | None = typer.Option(
        None,
        "--venue",
        help="who takes the live candles' orders: paper (default), testnet, live (QT_VENUE)",
    ),
    confirm: str = typer.Option(
        "", "--confirm", help="--venue live only: the acknowledgement (docs/live.md)"
    ),
) -> None:
    """The main job: train missing models, paper-trade the last QT_REPLAY_DAYS, then (unless
    QT_OFFLINE or --synthetic) live closed candles until Ctrl-C, their orders to --venue;
    report."""
    run_job(synthetic, venue, confirm)


def run_job(
    synthetic: bool, venue: str | None, confirm: str, candles: CandleStreamSource | None = None
) -> None:
    """``run``'s body; ``candles``: the replay's candles from the market-data role's stream
    (``service engine --redis-url``) instead of the store's."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from quantum_trader.adapters.sql.trials import SqlTrialLedger
    from quantum_trader.app.cli.render import metrics_table, status_table, summary_table
    from quantum_trader.app.main_job import run_main_job
    from quantum_trader.app.run_options import RunOptions
    from quantum_trader.app.runtime import new_run_id, record_interrupted
    from quantum_trader.app.storage import open_settings_database, preflight
    from quantum_trader.app.system_evaluation import replay_window
    from quantum_trader.app.venue import check_venue_gate, venue_line
    from quantum_trader.observability.logging import configure_logging

    settings = load_settings(**({"venue": venue} if venue is not None else {}))
    preflight(settings)
    if synthetic and settings.venue != "paper":
        raise ConfigError(
            f"--synthetic replays a generated market; --venue {settings.venue} "
            "trades a real one: use --venue paper"
        )
    check_venue_gate(settings, confirm)  # before the line that names the account
    console().print(venue_line(settings), markup=False, highlight=False, soft_wrap=True)
    run_id = new_run_id()
    configure_logging(run_id=run_id, fmt=settings.log_format, level=settings.log_level)
    if synthetic:
        console().print(
            "[magenta bold]SYNTHETIC DATA[/]: replaying a generated market, not real prices."
        )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console(),
    )
    task = progress.add_task("starting", total=0)
    try:
        with progress:
            result = run_main_job(
                settings,
                synthetic=synthetic,
                run_id=run_id,
                on_stage=lambda text: progress.update(task, description=text),
                on_start=lambda n: progress.update(task, total=n, completed=0),
                on_progress=lambda n: progress.advance(task, n),
                ledger=SqlTrialLedger(open_settings_database(settings)),
                gate_replay=replay_window,  # the validation gate's trading check
                options=RunOptions(confirm=confirm, candles=candles),
            )
    except KeyboardInterrupt:  # before the live phase (which ends on Ctrl-C by itself)
        record_interrupted(settings, run_id)
        console().print(
            "[yellow]interrupted[/] (Ctrl-C): trained models, orders, fills and what the modules "
            "learned up to the last commit are kept; a replay starts again from its beginning "
            "on the next run. `quantum-trader status` shows where each module stopped.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    if result.synthetic:
        console().print(
            "[magenta bold]SYNTHETIC DATA[/]: this run replayed a generated market, not real prices."
        )
    console().print(summary_table(result.summary))
    if result.metrics is not None:
        console().print(metrics_table(result.metrics.to_dict()))
    console().print(f"report: [bold]{result.outputs.get('report')}[/]")
    if result.trial_id is not None:
        console().print(f"trial #{result.trial_id} recorded (quantum-trader trials list)")
    console().print(status_table(result.runtime.status.snapshot()))


@app.command()
def service(
    role: str = typer.Argument(..., help="engine, api or market-data (docs/services.md)"),
    redis_url: str | None = typer.Option(
        None,
        "--redis-url",
        help="market-data: the Redis its candle stream goes to; engine: where it reads it "
        "(default: QT_REDIS_URL)",
    ),
    prefix: str = typer.Option(
        "qt",
        "--stream-prefix",
        callback=key_prefix,
        help="market-data, engine: the stream PREFIX:market.candle.closed",
    ),
    pause_s: float = typer.Option(
        0.0, "--pause-s", min=0.0, help="market-data: real seconds between batches (paced)"
    ),
    batch: int = typer.Option(500, "--batch", min=1, help="market-data: candles per append"),
    follow: bool = typer.Option(
        False,
        "--follow",
        help="market-data: stay until the end is read; republish if Redis lost it",
    ),
) -> None:
    """Run one service role in this process: engine (the main job, as `run`; with --redis-url
    its replay's candles come from market-data's stream), api (the HTTP API, as `serve`) or
    market-data (the replay's candles on a Redis stream). `quantum-trader up` starts them."""
    from quantum_trader.app.cli import serve as serve_cli
    from quantum_trader.app.cli import services as services_cli

    role = services_cli.check_role(role)
    if redis_url is not None and role not in (services_cli.MARKET_DATA, "engine"):
        raise ConfigError(
            f"--redis-url is market-data's and engine's: the {role} role does not read it"
        )
    if role == services_cli.MARKET_DATA:
        services_cli.market_data(redis_url_or_setting(redis_url), prefix, pause_s, batch, follow)
        return
    if role == "engine":
        redis_url = redis_url_or_setting(redis_url)
        stream = None if redis_url is None else services_cli.stream_source(redis_url, prefix)
        run_job(synthetic=False, venue=None, confirm="", candles=stream)
    else:
        serve_cli.serve(host=None, port=None, niceness=serve_cli.API_NICENESS)


def main() -> None:
    """Console-script entry point: expected errors print one clear line, not a traceback."""
    try:
        app()
    except QuantumTraderError as exc:
        # one line whatever the terminal's width, the text verbatim (``[…]`` is not markup)
        console().print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
