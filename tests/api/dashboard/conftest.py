"""The dashboard on a real uvicorn server (a thread of this process, a free local port) over a
seeded SQLite database, driven by Debian's chromium through Playwright.

Chromium comes from the distribution (``apt-get install chromium``; ``.ci/run`` installs it),
never from ``playwright install``. Where it or Playwright is missing the tests skip, except in
CI (``CI=true`` or ``QT_REQUIRE_SERVICES=1``), where they fail: CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.api.app import create_app
from quantum_trader.api.backtest_jobs import BacktestJobs
from quantum_trader.api.candles import CandleReader
from quantum_trader.api.config import ApiConfig
from quantum_trader.clock.clock import WallClock
from tests.api.conftest import PASSWORD, SECRET, USERNAME
from tests.api.dashboard.seed import BACKTEST_DOUBLE, seed, seed_candles
from tests.conftest import require_services

CHROMIUM = Path("/usr/bin/chromium")
WAIT_S = 20.0


def missing(what: str) -> None:
    """Skip locally; fail in CI, where the browser tests must run."""
    if os.environ.get("CI", "") == "true" or require_services():
        pytest.fail(f"{what}: the dashboard's browser tests cannot run in CI", pytrace=False)
    pytest.skip(f"{what} (apt-get install -y chromium; the venv has playwright)")


@dataclass(frozen=True)
class Served:
    base: str
    engine: Engine


def serve(
    engine: Engine, candles: CandleReader | None = None, backtests: BacktestJobs | None = None
) -> Iterator[str]:
    """The API on uvicorn in a thread; its event stream polls the outbox every 20 ms."""
    config = ApiConfig(username=USERNAME, password=PASSWORD, secret=SECRET, events_poll_s=0.02)
    app = create_app(config, engine, WallClock(), candles=candles, backtests=backtests)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("dash")
    engine = open_database(f"sqlite:///{root / 'qt.sqlite'}")
    seed(engine)
    jobs = BacktestJobs(root / "backtests", BACKTEST_DOUBLE, WallClock())
    for base in serve(engine, seed_candles(root / "store"), jobs):
        yield Served(base, engine)
    jobs.wait(WAIT_S)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed in the venv")
        raise AssertionError("unreachable") from None
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def log_in(page: Any, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#username", USERNAME)
    page.fill("#password", password)
    page.click("#login-submit")


@pytest.fixture(scope="module")
def session(browser: Any, served: Served) -> Iterator[Any]:
    """One logged-in browser context for the module (logins are limited to 5 a minute)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_S * 1000)
    page = context.new_page()
    log_in(page, served.base)
    page.wait_for_url(f"{served.base}/dashboard/")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(session: Any) -> Iterator[Any]:
    page = session.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == [], f"the page's script failed: {errors}"
