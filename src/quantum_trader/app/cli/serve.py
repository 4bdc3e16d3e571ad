"""``quantum-trader serve``: the operator's HTTP API (docs/api.md) under uvicorn, on the same
database as the engine, bound to this machine (127.0.0.1) unless told otherwise."""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import Engine

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.api.backtest_jobs import BacktestJobs
from quantum_trader.api.config import ApiConfig
from quantum_trader.app.service_heartbeat import ServiceHeartbeat
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.redaction import redacted
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer()

#: the argv prefix that runs this CLI in a child process (a backtest job, a role under ``up``):
#: this interpreter running the CLI's entry point (the ``quantum-trader`` script need not be on
#: PATH)
CLI_COMMAND = (
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'quantum-trader'; "
    "from quantum_trader.app.cli.main import main; main()",
)


def api_config(settings: Settings, host: str | None, port: int | None) -> ApiConfig:
    """The API's configuration from the settings; ConfigError (one line, no value shown)
    while the password or the secret is unset (the loader refuses weak ones)."""
    missing = [
        name
        for name, value in (("QT_API_PASSWORD", settings.api_password),
                            ("QT_API_SECRET", settings.api_secret))
        if value is None or not value.get_secret_value()
    ]  # fmt: skip
    if missing:
        raise ConfigError(
            f"serve refuses to start: {' and '.join(missing)} unset; set a password that is not "
            "a well-known default and a secret of at least 32 bytes "
            "(e.g. `openssl rand -hex 32`)"
        )
    assert settings.api_password is not None and settings.api_secret is not None
    return ApiConfig(
        username=settings.api_username,
        password=settings.api_password.get_secret_value(),
        secret=settings.api_secret.get_secret_value(),
        host=host or settings.api_host,
        port=port or settings.api_port,
        token_minutes=settings.api_token_minutes,
    )


def check_can_listen(host: str, port: int) -> None:
    """ConfigError naming ``host`` and ``port`` when the server could not listen there (the
    port taken, an address not this machine's, a name that does not resolve). uvicorn says so
    only after the app has started, as a log line, and exits 3, which ``up`` restarts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:  # socket.gaierror included
        reason = exc.strerror or str(exc)
        raise ConfigError(f"serve cannot listen on {host!r} port {port}: {reason}") from None


#: the API server's scheduling priority (nice): below the engine's, so that on a small machine
#: the operator's reads (a page of 1,000 trades costs ~140 ms of CPU) do not take the cores the
#: engine's decisions need (bench/bench_decision_under_api.py measures both ways)
API_NICENESS = 10


def lower_priority(niceness: int) -> int:
    """Raise this process's nice value to ``niceness`` (never lower it); the value now."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    return os.getpriority(os.PRIO_PROCESS, 0)


def operator_api(settings: Settings, config: ApiConfig, engine: Engine) -> FastAPI:
    """The app ``serve`` runs over ``engine`` (the settings it shows are redacted). FastAPI
    and the routes are imported here, not with the CLI: every other command would pay for them."""
    from quantum_trader.api.app import create_app
    from quantum_trader.api.candles import StoreCandleReader
    from quantum_trader.app.run_lock import engine_liveness

    return create_app(
        config,
        engine,
        settings=redacted(settings),
        liveness=lambda: engine_liveness(engine),
        candles=StoreCandleReader(CandleStore(settings.effective_store_dir)),
        backtests=BacktestJobs(settings.home / "backtests", CLI_COMMAND, WallClock()),
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default QT_API_HOST)")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default QT_API_PORT)")
    ] = None,
    niceness: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="the server's nice value: above the engine's 0, so "
            "that serving yields the cores to trading decisions",
        ),
    ] = API_NICENESS,
) -> None:
    """The HTTP API (/api/v1, /metrics) over the configured database, until Ctrl-C."""
    import uvicorn

    from quantum_trader.observability.logging import configure_logging

    settings = load_settings()
    config = api_config(settings, host, port)
    check_can_listen(config.host, config.port)
    configure_logging(run_id="api", fmt=settings.log_format, level=settings.log_level)
    engine = open_settings_database(settings)
    api = operator_api(settings, config, engine)
    lower_priority(niceness)  # its backtest jobs inherit it
    heartbeat = ServiceHeartbeat(engine, "api")  # `status` shows the API process UP or DOWN
    try:
        uvicorn.run(api, host=config.host, port=config.port, log_level=settings.log_level.lower())
    finally:
        heartbeat.stop()
