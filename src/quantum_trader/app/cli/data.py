"""``quantum-trader data …``: import, download, list, validate and generate market data.

The store defaults to ``Settings.effective_store_dir`` (``QT_STORE_DIR`` or ``<QT_HOME>/store``);
``--store`` overrides it. Commands exit non-zero when data fails validation.

The exchange used by ``download`` comes from ``ctx.obj`` when it is a :class:`DataCliDeps`
(tests pass a recorded-response exchange that way); otherwise it is ccxt's public Binance USDT-M
client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from quantum_trader.adapters.candle_store import CandleStore, ImportResult, StoreEntry
from quantum_trader.adapters.candle_store.importer import (
    import_directory,
    import_file,
    importable_files,
)
from quantum_trader.clock import Clock
from quantum_trader.config import load_settings
from quantum_trader.data.download import DownloadConfig, MarketDataDownloader
from quantum_trader.data.ports import ExchangeMarketData
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.data.validation import ValidationReport
from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import fmt, from_datetime, timeframe_ms

app = typer.Typer(help="The local candle store: import, download, list, validate.")

STORE_HELP = "Store folder (default: QT_STORE_DIR, else <QT_HOME>/store)."
FUNDING = "funding"


@dataclass(frozen=True, slots=True)
class DataCliDeps:
    """What ``download`` needs from outside; injected through ``ctx.obj``."""

    exchange: Callable[[], ExchangeMarketData]
    transient: tuple[type[BaseException], ...] = ()
    clock: Clock | None = None
    sleep: Callable[[float], None] | None = None


def _console() -> Console:
    return Console(width=160)


def _store(store: Path | None, console: Console | None = None) -> CandleStore:
    """The candle store; given ``console``, one that will be written: its folder is made now,
    so that a folder that cannot be made is one line before any work, not a traceback."""
    candle_store = CandleStore(store if store is not None else load_settings().effective_store_dir)
    if console is not None:
        try:
            candle_store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"store {candle_store.root}: cannot create it ({exc.strerror})"
            raise _fail(console, message) from None
    return candle_store


def _timeframe(console: Console, timeframe: str) -> str:
    """``timeframe`` when it is one the store knows (or 'funding'); else one line, exit 1."""
    if timeframe != FUNDING:
        try:
            timeframe_ms(timeframe)
        except ValueError as exc:  # was a traceback from deep in the store
            raise _fail(console, str(exc)) from None
    return timeframe


def parse_time(text: str) -> int:
    """Epoch ms of an ISO date/datetime (UTC when no zone is given) or of an integer ms.

    >>> parse_time("2024-01-01"), parse_time("1704067200000")
    (1704067200000, 1704067200000)
    """
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date/time or epoch ms") from None
    return from_datetime(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def _split(values: list[str]) -> list[str]:
    return [part.strip().upper() for v in values for part in v.split(",") if part.strip()]


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def _import_table(results: list[ImportResult]) -> Table:
    table = Table(title="Import")
    for col in ("file", "symbol", "timeframe", "rows in file", "rows added", "gaps", "result"):
        table.add_column(col, overflow="fold")
    for r in results:
        gaps = str(r.report.missing_candles) if r.report is not None else "-"
        result = "[green]ok[/]" if r.ok else f"[red]{escape(str(r.error))}[/]"
        table.add_row(
            r.path.name,
            r.symbol,
            r.timeframe,
            f"{r.rows_in_file:,}",
            f"{r.rows_added:,}",
            gaps,
            result,
        )
    return table


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A CSV/Parquet/Feather file, or a folder of them.")],
    symbol: Annotated[
        str | None, typer.Option(help="Symbol, if the file name does not say.")
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe (1h, 5m …) or 'funding'.")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Drop exact duplicate rows and sort; never invents prices."),
    ] = False,
    store: Annotated[Path | None, typer.Option(help=STORE_HELP)] = None,
) -> None:
    """Import candles or funding rates; a file that fails validation changes nothing."""
    console = _console()
    if timeframe is not None:
        _timeframe(console, timeframe)
    candle_store = _store(store)  # made by the first write: a refused file leaves no folder
    try:
        results = _import(console, candle_store, path, symbol, timeframe, repair)
    except OSError as exc:  # a store that cannot be made or written: one line, not a traceback
        raise _fail(console, f"{exc.filename or candle_store.root}: {exc.strerror}") from None
    console.print(_import_table(results))
    for r in results:
        if r.repair is not None and r.repair.changed:
            console.print(
                f"{r.path.name}: repaired — dropped {r.repair.dropped_duplicates} exact duplicate "
                f"row(s), moved {r.repair.reordered_rows} row(s) into time order"
            )
        if r.report is not None and r.report.gaps:
            console.print(
                f"[yellow]warning:[/] {r.symbol} {r.timeframe}: {r.report.missing_candles} "
                "missing candle(s), recorded in the gaps report: "
                + "; ".join(g.describe() for g in r.report.gaps[:5])
            )
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


def _import(
    console: Console,
    candle_store: CandleStore,
    path: Path,
    symbol: str | None,
    timeframe: str | None,
    repair: bool,
) -> list[ImportResult]:
    """``import``'s work: a folder's files, or one file (its validation errors: one line)."""
    if path.is_dir():
        if symbol or timeframe:
            raise _fail(console, "--symbol/--timeframe apply to one file, not a folder")
        files = importable_files(path)
        with _progress(console) as progress:
            task = progress.add_task("importing", total=len(files))

            def step(p: Path) -> None:
                progress.update(task, description=f"importing {p.name}")

            results = import_directory(candle_store, path, repair=repair, on_file=step)
            progress.update(task, completed=len(files))
    else:
        try:
            results = [
                import_file(candle_store, path, symbol=symbol, timeframe=timeframe, repair=repair)
            ]
        except DataError as exc:
            raise _fail(console, str(exc)) from None
    return results


def _entries_table(entries: list[StoreEntry], title: str) -> Table:
    table = Table(title=title)
    for col in ("symbol", "timeframe", "rows", "first", "last", "gaps", "synthetic"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e.symbol,
            e.timeframe,
            f"{e.rows:,}",
            fmt(e.first) if e.first is not None else "-",
            fmt(e.last) if e.last is not None else "-",
            str(e.gaps),
            "[magenta]SYNTHETIC[/]" if e.synthetic else "no",
        )
    return table


@app.command("list")
def list_(store: Annotated[Path | None, typer.Option(help=STORE_HELP)] = None) -> None:
    """List stored series: rows, first and last candle, missing candles, synthetic flag."""
    console = _console()
    candle_store = _store(store)
    entries = candle_store.list()
    funding = candle_store.list_funding()
    if not entries and not funding:
        console.print(f"the store at {candle_store.root} is empty")
        return
    if entries:
        console.print(_entries_table(entries, f"Candles in {candle_store.root}"))
    if funding:
        console.print(_entries_table(funding, "Funding rates"))


#: short column headers for the validation table
_SHORT = {
    "duplicate_rows": "dup rows",
    "conflicting_duplicates": "conflicts",
    "out_of_order": "order",
    "off_grid": "off grid",
    "nan": "NaN",
    "non_positive_price": "price<=0",
    "high_below_low": "high<low",
    "ohlc_inconsistent": "OHLC",
    "negative_volume": "vol<0",
    "rate_out_of_range": "rate range",
}


def _report_table(reports: list[ValidationReport]) -> Table:
    kinds: list[str] = []
    for r in reports:
        kinds += [k for k in r.counts() if k not in kinds]
    table = Table(title="Validation")
    table.add_column("symbol")
    table.add_column("series")
    for kind in kinds:
        table.add_column(_SHORT.get(kind, kind), justify="right")
    table.add_column("result")
    for r in reports:
        counts = r.counts()
        cells = [f"{counts[k]:,}" if k in counts else "-" for k in kinds]
        result = "[red]ERRORS[/]" if r.errors else ("[yellow]warnings[/]" if r.warnings else "ok")
        symbol, _, series = r.subject.split(" (")[0].partition(" ")
        table.add_row(symbol, series, *cells, result)
    return table


@app.command("validate")
def validate(
    symbol: Annotated[str | None, typer.Argument(help="Symbol to check (all its series).")] = None,
    timeframe: Annotated[str | None, typer.Argument(help="Timeframe, or 'funding'.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check every stored series.")] = False,
    store: Annotated[Path | None, typer.Option(help=STORE_HELP)] = None,
) -> None:
    """Re-check stored data: rows, duplicates, order, gaps, NaN, prices. Exit 1 on errors."""
    console = _console()
    candle_store = _store(store)
    if all_ == (symbol is not None):
        raise _fail(console, "give SYMBOL [TIMEFRAME] or --all (not both)")
    targets: list[tuple[str, str]]
    if all_:
        targets = [(e.symbol, e.timeframe) for e in candle_store.list()]
        targets += [(e.symbol, FUNDING) for e in candle_store.list_funding()]
    elif timeframe is not None:
        targets = [(symbol.upper() if symbol else "", _timeframe(console, timeframe))]
    else:
        wanted = (symbol or "").upper()
        targets = [(e.symbol, e.timeframe) for e in candle_store.list() if e.symbol == wanted]
        targets += [(e.symbol, FUNDING) for e in candle_store.list_funding() if e.symbol == wanted]
    if not targets:
        raise _fail(console, f"nothing to validate in the store at {candle_store.root}")
    try:
        reports = [
            candle_store.validate_funding(s) if tf == FUNDING else candle_store.validate(s, tf)
            for s, tf in targets
        ]
    except DataError as exc:
        raise _fail(console, str(exc)) from None
    console.print(_report_table(reports))
    for r in reports:
        if r.problems:
            colour = "red" if r.errors else "yellow"
            console.print(f"[{colour}]{r.summary()}[/]", highlight=False, soft_wrap=True)
    if any(r.errors for r in reports):
        raise typer.Exit(code=1)


def _default_deps() -> DataCliDeps:
    from quantum_trader.adapters.ccxt_market_data import TRANSIENT_ERRORS, binance_usdm_public

    return DataCliDeps(exchange=binance_usdm_public, transient=TRANSIENT_ERRORS)


@app.command("download")
def download(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Option(help="Symbols, comma-separated or repeated.")],
    timeframe: Annotated[str, typer.Option(help="Candle timeframe.")] = "1h",
    since: Annotated[
        str | None,
        typer.Option(
            help="Start (ISO date/time, UTC) for series not stored yet; stored ones resume."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Stop before this open time (default: now).")
    ] = None,
    funding: Annotated[bool, typer.Option(help="Also download funding-rate history.")] = True,
    store: Annotated[Path | None, typer.Option(help=STORE_HELP)] = None,
) -> None:
    """Download closed candles (and funding) from Binance USDT-M public endpoints."""
    console = _console()
    _timeframe(console, timeframe)
    if not _split(symbols):
        raise _fail(console, "--symbols: give at least one symbol")
    deps = ctx.obj if isinstance(ctx.obj, DataCliDeps) else _default_deps()
    candle_store = _store(store, console)
    downloader = MarketDataDownloader(
        deps.exchange(),
        candle_store,
        clock=deps.clock,
        config=DownloadConfig(),
        transient=deps.transient,
        counters=candle_store.counters,
        sleep=deps.sleep or time.sleep,
    )
    since_ms = parse_time(since) if since else None
    until_ms = parse_time(until) if until else None
    table = Table(title="Download")
    for col in ("symbol", "series", "resumed from", "pages", "rows added", "first", "last"):
        table.add_column(col)
    try:
        with _progress(console) as progress:
            for symbol in _split(symbols):
                task = progress.add_task(f"{symbol} {timeframe}", total=None)

                def on_page(rows: int, _cursor: int, task: TaskID = task) -> None:
                    progress.update(task, completed=rows)

                result = downloader.download_ohlcv(
                    symbol,
                    timeframe,
                    since=since_ms,
                    until=until_ms,
                    on_page=on_page,
                )
                progress.update(task, total=result.rows_added, completed=result.rows_added)
                results = [result]
                if funding:
                    results.append(downloader.download_funding(symbol, since=since_ms))
                for r in results:
                    table.add_row(
                        symbol,
                        r.kind,
                        fmt(r.resumed_from) if r.resumed_from is not None else "new",
                        str(r.pages),
                        f"{r.rows_added:,}",
                        fmt(r.first_added) if r.first_added is not None else "-",
                        fmt(r.last_added) if r.last_added is not None else "-",
                    )
    except DataError as exc:
        console.print(table)
        raise _fail(console, str(exc)) from None
    console.print(table)


@app.command("synthetic")
def synthetic(
    symbols: Annotated[
        list[str] | None, typer.Option(help="Names, stored as SYN… [default: BTCUSDT,ETHUSDT]")
    ] = None,
    candles: Annotated[int, typer.Option(help="Candles per symbol.")] = 5_000,
    timeframe: Annotated[str, typer.Option(help="Candle timeframe.")] = "1h",
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed; the same seed gives the same market.")
    ] = 0,
    start: Annotated[str, typer.Option(help="Open time of the first candle (UTC).")] = "2024-01-01",
    store: Annotated[Path | None, typer.Option(help=STORE_HELP)] = None,
) -> None:
    """Generate a seeded synthetic market (regimes, volatility clustering, jumps) into the store.

    Every symbol is stored with the SYN prefix and synthetic=True, so it is never taken for real.
    """
    console = _console()
    names = _split(symbols) if symbols else ["BTCUSDT", "ETHUSDT"]
    try:
        config = SyntheticConfig(
            seed=seed, candles=candles, timeframe=timeframe, start=parse_time(start)
        )
        market = generate_market(config, names)
    except ValueError as exc:  # the generator's rules name the field (candles=-5 must be >= 1)
        raise ConfigError(f"data synthetic: {exc}") from None
    candle_store = _store(store, console)
    for series in market:
        candle_store.write(
            series.symbol,
            timeframe,
            series.frame,
            synthetic=True,
            source=f"synthetic seed={seed}",
        )
        console.print(f"wrote {series.symbol} {timeframe}: {len(series.frame):,} SYNTHETIC candles")
