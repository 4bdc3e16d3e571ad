"""The venue's API key and secret, and the API's password and secret, appear nowhere a run
leaves them (issue 22, Part B item 6): canary values run through the main job on a testnet
venue (the exchange double over HTTP, through ccxt, which signs every request with them), and
afterwards no log line, database row, file of the home (run reports, checkpoints, artifacts,
the SQLite database and its write-ahead log byte for byte), event of the outbox, API answer or
traceback holds one of them.

The run is the main job's live phase of ``tests/app/test_main_job_live.py`` (two days replayed,
then the recorded Binance candles on a wall clock that moves when the run sleeps) with the
account handed to the double at the first current candle; a second run meets a venue that
refuses the key at the handover (Binance's -2015) and ends with ccxt's error, whose traceback
is searched too. The double counts the API key each request carried, so the test knows the
key was in use.

Before ``adapters/ccxt_venue_client.py`` masked them, the key was in the captured log: ccxt logs
each request's headers (``X-MBX-APIKEY`` among them) at DEBUG through ``logging``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from quantum_trader.adapters.ccxt_venue_client import CcxtClientConfig, build_venue
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.tables_execution import exec_trades
from quantum_trader.adapters.sql.tables_experiments import experiments
from quantum_trader.adapters.sql.tables_registry import model_versions
from quantum_trader.app.cli.serve import api_config, operator_api
from quantum_trader.app.live import LiveConnection
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.run_options import RunOptions
from quantum_trader.app.venue import RemoteVenue
from quantum_trader.config.settings import Settings
from quantum_trader.execution.request_budget import RequestBudget
from quantum_trader.observability.logging import configure_logging
from tests.app import test_main_job_live
from tests.app.test_main_job_live import (
    CAUGHT_UP,
    HOUR,
    LIVE_HOURS,
    FakeWall,
    Market,
    RecordedBinance,
    _settings,
)
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.faults import Faults

#: the module fixture of the main job's live tests: the shared data cut LIVE_HOURS before its end
market = test_main_job_live.market

pytestmark = [pytest.mark.data, pytest.mark.slow]

KEY = "CanaryVenueKey0f3c9a71d2"
SECRET = "CanaryVenueSecret8b64e0c5a9"
API_PASSWORD = "CanaryApiPassword5e1d77"
API_SECRET = "CanaryApiSecret93ac20f6be71d04e5a"
CANARIES = (KEY, SECRET, API_PASSWORD, API_SECRET)


class MarkedBinance(RecordedBinance):
    """The recorded candles, and the double's marks moved to each symbol's last close served,
    so that its fills are at the market's price."""

    def __init__(self, double: ExchangeDouble, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.double = double

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[object]]:
        rows = super().fetch_ohlcv(symbol, timeframe, since, limit)
        closed = [r for r in rows if int(r[0]) + HOUR <= self.wall.now()]  # type: ignore[call-overload]
        if closed:
            plain = symbol.split("/")[0] + "USDT"
            self.double.book.set_mark(plain, float(closed[-1][4]))  # type: ignore[arg-type]
        return rows


def _venue_at(base_url: str) -> object:
    """The run's remote factory: ccxt's Binance USDT-M client at ``base_url``, with the keys of
    the settings the run hands it (as ``app/venue.ccxt_remote``; ccxt's own limiter off)."""

    def build(settings: Settings) -> RemoteVenue:
        key, secret = settings.binance_api_key, settings.binance_api_secret
        assert key is not None and secret is not None
        config = CcxtClientConfig(
            "testnet",
            key.get_secret_value(),
            secret.get_secret_value(),
            base_url,
            2_000,
            enable_rate_limit=False,
        )
        return build_venue(
            config,
            requests_per_minute=settings.venue_requests_per_minute,
            symbols=settings.symbols,
            budget=RequestBudget(1_000_000, lambda: 0.0, lambda _s: None),
        )

    return build


def _canary_settings(home: Path, market: Market) -> Settings:
    return _settings(
        home,
        market,
        venue="testnet",
        binance_api_key=KEY,
        binance_api_secret=SECRET,
        api_password=API_PASSWORD,
        api_secret=API_SECRET,
    )


def _leaks(text: str | bytes, where: str) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [f"{where}: {c[:12]}…" for c in CANARIES if c.encode() in data]


def _files(home: Path) -> Iterator[Path]:
    return (p for p in sorted(home.rglob("*")) if p.is_file())


def _filled(path: str, run_id: str, ids: dict[str, str]) -> str:
    """A route's path with the run's own ids (a model line's with its query)."""
    if path.endswith("/models/{name}/history"):
        return path.replace("/{name}/history", "/" + ids["model"].replace("?", "/history?", 1))
    if path.startswith("/api/v1/experiments/"):
        path = path.replace("{name}", ids["experiment"])
    if path == "/api/v1/candles":
        return f"{path}?symbol={ids['symbol']}&limit=50"
    filled = path.replace("{run_id}", run_id).replace("{trade_id}", ids["trade_id"])
    return filled.replace("{job_id}", "4711")  # no backtest job ran: its 404 is read


def _api_answers(settings: Settings, run_id: str) -> list[tuple[str, int, str]]:
    """Every GET route of ``serve``'s app over the run's database, logged in: (path, status,
    answer with its headers)."""
    engine = open_database(settings.effective_database_url)
    api = operator_api(settings, api_config(settings, None, None), engine)
    with engine.connect() as conn:  # real ids, so the routes answer with the run's rows
        ids = {
            "trade_id": conn.execute(select(exec_trades.c.trade_id).limit(1)).scalar_one(),
            "experiment": conn.execute(select(experiments.c.name).limit(1)).scalar_one(),
        }
        line = conn.execute(
            select(model_versions.c.model, model_versions.c.scope, model_versions.c.horizon)
        ).first()
        assert line is not None
        ids["model"] = f"{line.model}?scope={line.scope}&horizon={line.horizon}"
        ids["symbol"] = line.scope
    out: list[tuple[str, int, str]] = []
    with TestClient(api) as client:
        login = client.post(
            "/api/v1/auth/login",
            json={"username": settings.api_username, "password": API_PASSWORD},
        )
        assert login.status_code == 200, login.text
        out.append(("login", login.status_code, login.text + repr(login.headers.raw)))
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        client.cookies.clear()
        for route in api.routes:
            if not isinstance(route, APIRoute) or "GET" not in route.methods:
                continue
            if route.path == "/api/v1/events":  # endless: its rows are read from the database
                continue
            path = _filled(route.path, run_id, ids)
            answer = client.get(path, headers=auth)
            out.append((path, answer.status_code, answer.text + repr(answer.headers.raw)))
    engine.dispose()
    return out


def test_no_log_row_file_event_api_answer_or_traceback_holds_a_secret(
    market: Market,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging(run_id="canary", fmt="json", level="DEBUG")
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    settings = _canary_settings(home, market)
    switch = market.replay_end + CAUGHT_UP * HOUR + HOUR // 2
    wall = FakeWall(switch)
    leaks: list[str] = []
    with ExchangeDouble() as double:
        exchange = MarkedBinance(
            double, market.after, wall, market.replay_end + (LIVE_HOURS + 2) * HOUR
        )
        result = run_main_job(
            settings,
            connection=LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
            options=RunOptions(remote=_venue_at(double.base_url)),  # type: ignore[arg-type]
        )
        used = dict(double.api_keys)
    rt = result.runtime
    assert result.summary["live"]["state"] == "stopped by Ctrl-C"
    # the key was in use: the double saw it on the account's requests, and orders went there
    assert used.get(KEY, 0) > 10, used
    assert set(used) <= {KEY, ""}, used
    assert double.created > 0
    leaks += _leaks(repr(result.summary), "run summary")
    answers = _api_answers(settings, rt.run_id)
    # real answers from every route but a backtest job's (none ran)
    refused = [(path, status) for path, status, _a in answers if status != 200]
    assert refused == [(p, 404) for p, _s, _a in answers if "/4711" in p], refused
    for path, _status, answer in answers:
        leaks += _leaks(answer, f"GET {path}")
    rt.db.dispose()

    # the venue refuses the key at the handover (Binance's -2015): what the run says of it
    second = tmp_path / "home-refused"
    wall2 = FakeWall(switch)
    exchange2 = RecordedBinance(market.after, wall2, market.replay_end + (LIVE_HOURS + 2) * HOUR)
    with ExchangeDouble(faults=Faults(invalid_key=True)) as refusing:
        with pytest.raises(ccxt.AuthenticationError) as raised:  # the run ends on it
            run_main_job(
                _canary_settings(second, market),
                connection=LiveConnection(client=lambda: exchange2, wall=wall2, sleep=wall2.sleep),
                options=RunOptions(remote=_venue_at(refusing.base_url)),  # type: ignore[arg-type]
            )
        refused = dict(refusing.api_keys)
    assert refused.get(KEY, 0) > 0, refused  # the key went out signed, and was refused
    failure = "".join(traceback.format_exception(raised.value))
    assert "-2015" in failure and "ccxt" in failure  # the venue's answer, through ccxt's frames
    leaks += _leaks(failure, "the refused run's traceback")

    for root in (home, second):
        files = list(_files(root))
        assert any(p.suffix == ".sqlite" for p in files), files
        for path in files:
            leaks += _leaks(path.read_bytes(), str(path.relative_to(tmp_path)))
    logged = capsys.readouterr()
    leaks += _leaks(logged.out, "stdout") + _leaks(logged.err, "stderr")
    leaks += _leaks(caplog.text, "logging")
    assert not leaks, leaks
