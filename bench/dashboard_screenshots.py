"""Screenshots of the dashboard's main pages, and the overview's first meaningful paint on a
large run (issue 20: "the dashboard's first meaningful paint <= 1 s with 10,000 trades and 2
years of 1h candles in the database").

1. **Database.** ``bench_api.populate``: a temporary ``QT_HOME`` filled through the project's
   own adapters, shaped like a finished replay (``--trades`` round trips on 5 symbols, 2 years
   of hourly equity points, 26 modules with evidence, the kill switch's audit trail, three A/B
   experiments), plus a risk verdict on the newest trades' decisions (for the trace) and a
   last checkpoint holding a real portfolio snapshot with two open positions.
2. **Server.** ``quantum-trader serve`` as a subprocess on a free local port.
3. **Browser.** Debian's chromium (``/usr/bin/chromium``) through Playwright, headless, one
   context logged in through the login page. First meaningful paint: the time from the
   navigation's start to the frame that shows the overview's equity curve (the
   ``drawn:equity-chart`` performance mark ``static/charts.js`` sets in the next animation
   frame after drawing), read from the page's own clock; ``--runs`` fresh loads of the page,
   median reported. The static files may come from the browser's cache after the first load
   (a returning operator); the data is read again on every load.
4. **Screenshots** of overview, candles, positions, trades (a decision trace open), models,
   agents and experiments, as PNG files in the directory given (default
   /tmp/qt-dashboard-screenshots).

    PYTHONPATH=src .venv/bin/python bench/dashboard_screenshots.py [DIR] [--trades N] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.portfolio.portfolio import Portfolio

CHROMIUM = "/usr/bin/chromium"
PAGES = ("overview", "candles", "positions", "trades", "models", "agents", "experiments")
#: what each page shows once drawn (a selector to wait for before its screenshot)
READY = {
    "overview": "svg.equity-chart[data-drawn]",
    "candles": "svg.price-chart[data-drawn]",
    "positions": "#positions table",
    "trades": "#trace",
    "models": "#models > *",
    "agents": "#agents > *",
    "experiments": "#experiments > *",
}


def bench_module() -> Any:
    """``bench/bench_api.py``: its database builder and server helpers are reused as they are."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return importlib.import_module("bench_api")


def add_book_and_verdicts(home: Path, run_id: str) -> None:
    """A risk verdict on each of the newest trades' decisions, for the trace page, and a last
    checkpoint whose state is a real portfolio snapshot with two open positions (bench_api's
    checkpoints hold a stand-in state that ``/positions`` cannot restore)."""
    db = open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}")
    store = SqlExecutionStore(db)
    trades, _ = store.recent(run_id, 20)
    at = max(t.exit_time for t in trades)
    book = Portfolio(run_id)
    book.deposit(10_000.0, at)
    book.apply_fill("BTCUSDT", Side.BUY, 0.05, 30_000.0, 0.6, at, f"{run_id}-o1", fill_id="b1")
    book.apply_fill("ETHUSDT", Side.SELL, 1.0, 2_000.0, 0.8, at, f"{run_id}-o2", fill_id="b2")
    book.mark("BTCUSDT", 30_900.0)
    book.mark("ETHUSDT", 1_950.0)
    state = json.dumps({"portfolio": book.snapshot()})
    store.commit(CheckpointBatch(run_id, 2 * 8760, at, True, state))
    verdicts = [
        RiskDecision(t.decision.decision_id, Outcome.APPROVED,
                     OrderIntent(t.symbol, t.side, t.quantity, leverage=3.0,
                                 reason=f"{t.strategy}: ensemble vote"),
                     t.quantity, (), t.entry_time, TradingState.ACTIVE, RiskMode.MODERATE)
        for t in trades if t.decision is not None
    ]  # fmt: skip
    SqlRiskRepository(db).record_decisions(verdicts)
    db.dispose()


def first_paint_ms(page: Any, url: str) -> float:
    page.goto("about:blank")  # a new document: going to the same URL and hash would not load
    page.goto(url)
    page.wait_for_function("performance.getEntriesByName('drawn:equity-chart').length > 0")
    return float(page.evaluate("performance.getEntriesByName('drawn:equity-chart')[0].startTime"))


def browse(base: str, username: str, password: str, out: Path, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(f"{base}/dashboard/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/dashboard/")
        overview = f"{base}/dashboard/#/overview"
        first_paint_ms(page, overview)  # warm-up: the server's first reads, the static files
        paints = [first_paint_ms(page, overview) for _ in range(runs)]
        for name in PAGES:
            page.goto(f"{base}/dashboard/#/{name}")
            page.reload()
            if name == "trades":
                page.click("tr.trade-row")
            page.wait_for_selector(READY[name])
            page.wait_for_timeout(300)  # the frame after the last draw
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        browser.close()
    return paints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("/tmp/qt-dashboard-screenshots"))
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=2 * 8760, help="hourly equity points")
    parser.add_argument("--observations", type=int, default=200, help="per experiment")
    parser.add_argument("--runs", type=int, default=5, help="overview loads measured")
    parser.add_argument("--quick", action="store_true", help="500 trades, 30 days: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.trades, args.hours, args.observations = 500, 720, 50
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    bench = bench_module()
    home = Path(tempfile.mkdtemp(prefix="qt_dashboard_"))
    password = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "AI_ENGINE_"))}
    env |= {"QT_HOME": str(home), "QT_API_PASSWORD": password,
            "QT_API_SECRET": secrets.token_hex(32), "QT_API_USERNAME": bench.USERNAME}  # fmt: skip
    t0 = time.perf_counter()
    content = bench.populate(home, args.trades, args.hours, args.observations)
    add_book_and_verdicts(home, content["run_id"])
    print(f"database: {content} built in {time.perf_counter() - t0:.1f} s", flush=True)
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    log = home / "serve.log"
    serve = shutil.which("quantum-trader") or str(Path(".venv/bin/quantum-trader").resolve())
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [serve, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        bench.wait_ready(base, proc, log)
        paints = browse(base, bench.USERNAME, password, args.out, args.runs)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    print(f"overview first meaningful paint ({args.trades} trades, {args.hours} hourly equity "
          f"points): median {statistics.median(paints):.0f} ms over {len(paints)} loads "
          f"(each: {', '.join(f'{p:.0f}' for p in paints)} ms); target <= 1000 ms; "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"screenshots: {', '.join(str(args.out / f'{n}.png') for n in PAGES)}")


if __name__ == "__main__":
    main()
