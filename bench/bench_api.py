"""The operator's HTTP API under load (issue 20: "API p99 <= 50 ms for status, positions and
the last 1,000 trades at 50 concurrent clients on this machine").

1. **Database.** A temporary ``QT_HOME`` filled through the project's own adapters, shaped like
   a finished replay: ``build_runtime`` registers the 24 modules (+ ``ensemble``,
   ``strategies``) with evidence counters and writes the ``runs`` row and the status table
   (``Runtime.start`` / ``finish``); ``SqlExecutionStore.commit`` writes the run's execution
   state in checkpoints of 250 trades, as the engine does: ``--trades`` round trips (default
   10,000) on 5 symbols over two years of 1h candles, each with its entry and exit order
   (decision reference on both), one fill per order, fee / realised PnL / funding ledger
   entries, one equity point per hour (17,520) and the portfolio's snapshot as the checkpoint
   state (one open position per symbol, every fill id); the kill switch (engaged, then
   released) and a trading-state change through ``SqlRiskRepository``; three A/B experiments
   through ``Experiment.start`` / ``observe`` / ``record`` on ``SqlExperimentStore``
   (``--observations`` paired observations each, one assignment per 10).
2. **Server.** ``quantum-trader serve`` as a subprocess (uvicorn, one worker, 127.0.0.1, a free
   port, strong ``QT_API_PASSWORD`` / ``QT_API_SECRET``; its log goes to a file in the home);
   one login for a bearer token.
3. **Load.** Per route (``/status``, ``/positions``, ``/trades?limit=1000``, ``/risk``,
   ``/experiments``): ``--clients`` concurrent clients, each with its own keep-alive HTTP/1.1
   connection (a plain asyncio stream: ``Connection``; ``--client httpx``: the former single
   ``httpx.AsyncClient``, connection limit = clients), each issuing requests back to back
   (closed loop) until ``--requests`` are done, after a warm-up of ``--warmup``. Latency per
   request is client-side (``time.perf_counter``, request sent to body read); an error is any
   exception or non-200. Also the server process's CPU time per request (/proc, Linux): with
   one worker, throughput cannot exceed 1 / that, and at C clients in a closed loop the median
   is about C / throughput; and the clients' own CPU time per request (this process).

The client runs on the same machine as the server (2 cores here) and takes CPU of its own. The
table gives p50 / p95 / p99 / max in ms, throughput, errors, PASS / FAIL against 50 ms at p99,
and the load average before and after; the JSON (``--out``, default /tmp/bench_api.json) holds
the same. ``--quick``: 500 trades, 10 clients, 200 requests, under 30 s.

    PYTHONPATH=src .venv/bin/python bench/bench_api.py            # full: a few minutes
    PYTHONPATH=src .venv/bin/python bench/bench_api.py --quick    # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import Engine

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.app.runtime import build_runtime
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.records import Assignment, Observation
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.portfolio.ledger import LedgerEntry, LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.state import TradingState, TradingStateChange

START_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
HOUR = 3_600_000
HOURS = 2 * 8760  # two years of 1h candles
CHECKPOINT = 250  # trades per committed checkpoint
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
PRICES = (30_000.0, 2_000.0, 60.0, 300.0, 0.5)
STRATEGIES = ("TrendFollowing", "MeanReversion", "Breakout")
REGIMES = ("TRENDING_UP", "TRENDING_DOWN", "SIDEWAYS", "VOLATILE")
EXITS = ("signal", "stop_loss", "take_profit", "time_stop")
MODULES = (
    "xgb", "lgbm", "nhits", "patchtst", "memory_states", "reinforcement", "drift_detection",
    "covariate_shift", "shadow_models", "continuous_learning", "regime_detector",
    "meta_strategy_controller", "rl_meta_strategy", "rl_v2_qlearning", "rl_position_sizing",
    "rl_v3_training", "model_registry", "ab_testing", "backtester", "risk_safety", "execution",
    "portfolio", "market_data", "bus_and_policy", "ensemble", "strategies",
)  # fmt: skip
ROUTES = (
    "/api/v1/status", "/api/v1/positions", "/api/v1/trades?limit=1000", "/api/v1/risk",
    "/api/v1/experiments",
)  # fmt: skip
TARGET_MS = 50.0
WARMUP_S = 10.0  # no warm-up request starts later than this
USERNAME = "operator"


def write_execution(
    db: Engine, run_id: str, trades: int, hours: int, rng: np.random.Generator
) -> None:
    """``trades`` round trips over ``hours`` through ``SqlExecutionStore.commit``, in
    checkpoints, with one equity point per hour."""
    store = SqlExecutionStore(db)
    fill_ids: list[str] = []
    seq = ledger_seq = 0
    balance, equity_hour = 10_000.0, 0
    for lo in range(0, trades, CHECKPOINT):
        orders: list[Order] = []
        fills: list[Fill] = []
        done: list[Trade] = []
        ledger: list[LedgerEntry] = []
        last_time = START_MS
        for i in range(lo, min(lo + CHECKPOINT, trades)):
            k = i % len(SYMBOLS)
            symbol = SYMBOLS[k]
            opened = START_MS + (i * (hours - 48) // trades) * HOUR
            closed = opened + int(rng.integers(1, 48)) * HOUR
            entry = PRICES[k] * float(np.exp(rng.normal(0.0, 0.2)))
            exit_ = entry * float(np.exp(rng.normal(0.0, 0.01)))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            qty = round(1_000.0 / entry, 6)
            pnl = (exit_ - entry) * qty * (1.0 if side is Side.BUY else -1.0)
            fee, funding = 0.0004 * qty * (entry + exit_), float(rng.normal(0.0, 0.05))
            strategy = STRATEGIES[i % len(STRATEGIES)]
            ref = DecisionRef(f"{symbol}@{opened}", strategy, "regime_rules", "fixed_fractional",
                              ("xgb@3", "lgbm@3", "nhits@1"), REGIMES[i % len(REGIMES)])  # fmt: skip
            for t, o_side, price, reduce in ((opened, side, entry, False),
                                             (closed, side.opposite, exit_, True)):  # fmt: skip
                seq += 1
                cid = f"{run_id}-{symbol}-{seq}"
                orders.append(Order(
                    cid, symbol, o_side, OrderType.MARKET, qty, t, reduce_only=reduce,
                    status=OrderStatus.FILLED, filled_quantity=qty, average_price=price,
                    updated_at=t, reason=strategy, decision=ref,
                ))  # fmt: skip
                fills.append(
                    Fill(f"{cid}-F1", cid, symbol, o_side, qty, price, 0.0004 * qty * price, t)
                )
                fill_ids.append(f"{cid}-F1")
            done.append(Trade(f"{run_id}-T{i + 1}", symbol, side, qty, entry, exit_,
                                      opened, closed, pnl, fee, funding, strategy,
                                      EXITS[i % len(EXITS)], ref))  # fmt: skip
            for kind, amount in ((LedgerKind.FEE, -fee), (LedgerKind.FUNDING, funding),
                                 (LedgerKind.REALIZED_PNL, pnl)):  # fmt: skip
                ledger_seq += 1
                balance += amount
                ledger.append(LedgerEntry(ledger_seq, closed, kind, symbol, amount, balance,
                                                f"{run_id}-T{i + 1}"))  # fmt: skip
            last_time = closed
        upto = hours if lo + CHECKPOINT >= trades else (lo + CHECKPOINT) * hours // trades
        equity = [(START_MS + h * HOUR, balance) for h in range(equity_hour, upto)]
        equity_hour = upto
        state = {"portfolio": book_snapshot(balance, last_time, fill_ids),
                 "orders": {"seq": seq}, "equity_tail": None,
                 "strategy": {f"{s}:{x}": [0.0] * 24 for s in SYMBOLS for x in STRATEGIES}}  # fmt: skip
        final = lo + CHECKPOINT >= trades
        store.commit(CheckpointBatch(run_id, upto, last_time, final, json.dumps(state),
                                     orders, fills, done, ledger, equity))  # fmt: skip


def book_snapshot(balance: float, time: int, fill_ids: list[str]) -> dict[str, Any]:
    """The portfolio's snapshot as a checkpoint stores it: one open position per symbol
    (alternately long and short, 5x), and every fill id the run applied (the engine's snapshot
    keeps them all, so a two-year run's state holds 20,000)."""
    book = Portfolio("bench")
    book.deposit(max(balance, 1_000.0), time - HOUR)
    for k, (symbol, price) in enumerate(zip(SYMBOLS, PRICES, strict=True)):
        book.set_leverage(symbol, 5.0, 0.005)
        side = Side.BUY if k % 2 == 0 else Side.SELL
        book.apply_fill(symbol, side, round(2_000.0 / price, 6), price, 0.0, time - HOUR,
                        f"open-{symbol}", fill_id=f"open-{symbol}-F1")  # fmt: skip
        book.mark(symbol, price * 1.01)
    snapshot = book.snapshot()
    snapshot["fill_ids"] = sorted({*snapshot["fill_ids"], *fill_ids})
    return snapshot


def write_risk(db: Engine) -> None:
    risk = SqlRiskRepository(db)
    switch = KillSwitch(risk, SimulatedClock(START_MS + 9001 * HOUR))
    switch.engage("exchange maintenance", by="cli:operator")
    switch.release(by="cli:operator", reason="maintenance over")
    risk.record_state_change(TradingStateChange(
        START_MS + 9000 * HOUR, TradingState.ACTIVE, TradingState.REDUCING,
        "drawdown 6.2% past 6%", "engine:bench", False,
    ))  # fmt: skip


def write_experiments(db: Engine, run_id: str, observations: int, rng: np.random.Generator) -> None:
    """Three experiments as ``app/ab_testing.py`` declares them, fed paired observations."""
    store = SqlExperimentStore(db)
    pairs = (("ppo", "qlearning"), ("rules", "qlearning"), ("rules", "ppo"))
    for n, (a, b) in enumerate(pairs):
        spec = ExperimentSpec(f"{a}_vs_{b}@{run_id}" if n == 0 else f"{a}_vs_{b}-{n}",
                              (ArmSpec(a, "policy", ref=f"{a}-line"),
                               ArmSpec(b, "policy", ref=f"{b}-line")), seed=n)  # fmt: skip
        exp = Experiment.start(store, spec, START_MS)
        for step in range(observations):
            at = START_MS + step * HOUR
            values = {a: float(rng.standard_t(3)), b: float(rng.standard_t(3)) + 0.02}
            exp.observe(Observation(step, at, values, {a: 0.03, b: 0.04}))
            if step % 10 == 0:
                p = exp.probabilities() or {a: 0.5, b: 0.5}
                arm = a if rng.random() < p.get(a, 0.5) else b
                exp.record(Assignment(f"BTCUSDT@{at}", arm, p.get(arm, 0.5), p, "v1", at))


def populate(home: Path, trades: int, hours: int, observations: int) -> dict[str, Any]:
    """The database under ``home`` (QT_HOME) through the project's adapters; what it holds."""
    rng = np.random.default_rng(7)
    settings = load_settings(home=home)
    rt = build_runtime(settings, mode="replay", start_ms=START_MS)
    for i, name in enumerate(MODULES):
        handle = rt.modules.get(name) or rt.register(name, f"bench stand-in for {name}")
        for c in range(3 + i % 4):
            handle.count(f"evidence_{c}", int(rng.integers(1, 100_000)))
    rt.start()
    write_execution(rt.db, rt.run_id, trades, hours, rng)
    write_risk(rt.db)
    write_experiments(rt.db, rt.run_id, observations, rng)
    rt.finish("FINISHED", {"trades": trades})
    rt.db.dispose()
    size = sum(p.stat().st_size for p in home.glob("quantum_trader.sqlite*"))
    return {"run_id": rt.run_id, "trades": trades, "orders": 2 * trades, "fills": 2 * trades,
            "ledger": 3 * trades, "equity_points": hours, "modules": len(MODULES),
            "experiments": 3, "observations": observations, "db_bytes": size}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class RouteResult:
    route: str
    requests: int
    errors: int
    error_kinds: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    throughput_rps: float
    server_cpu_ms_per_request: float
    client_cpu_ms_per_request: float  # this process (the clients): what they take of the cores
    body_bytes: int
    passed: bool


class Connection:
    """One client's keep-alive HTTP/1.1 connection: a GET written, the status line and headers
    read, the body read to its Content-Length (or its chunks); with ``--gzip`` it accepts gzip
    (as httpx, curl ``--compressed`` and browsers do) and inflates the body.

    The clients were one ``httpx.AsyncClient``; on these 2 shared cores it spent more CPU per
    request than the server's cached answers, so the bench measured its own client. This one
    sends the same requests (GET, the bearer token, keep-alive) over a plain asyncio stream:
    the load is unchanged (``--clients`` connections, each closed-loop)."""

    def __init__(self, host: str, port: int, token: str, *, gzip: bool = False) -> None:
        self._host, self._port = host, port
        coding = "gzip" if gzip else "identity"
        self._head = (f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                      f"Accept-Encoding: {coding}\r\n\r\n").encode()  # fmt: skip
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        """The status and the (inflated) body's size of one GET of ``path``."""
        reused = self._reader is not None and not self._reader.at_eof()
        if not reused:  # new, or closed by the server (uvicorn drops a keep-alive idle 5 s)
            self.close()
            self._reader, self._writer = await asyncio.open_connection(
                self._host, self._port, limit=1 << 20
            )
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self._head)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            self.close()  # closed while idle, before any answer: once more, as httpx does
            return await self.get(path)
        status = int(head[9:12])
        length, chunked, close, gzipped = 0, False, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                close = value == b"close"
            elif name == b"content-encoding":
                gzipped = value == b"gzip"
        body = await self._chunked(reader) if chunked else await reader.readexactly(length)
        size = len(zlib.decompress(body, wbits=31) if gzipped else body)
        if close:
            self.close()
        return status, size

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while True:
            n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append((await reader.readexactly(n + 2))[:-2])
            if n == 0:
                return b"".join(chunks)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class HttpxClient:
    """The bench's former client (``--client httpx``): one ``httpx.AsyncClient`` shared by
    every worker, connection limit = clients; kept to measure what it costs. It asks for
    identity unless ``--gzip`` (the server answered identity when it was the bench's client)."""

    def __init__(self, base: str, token: str, clients: int, *, gzip: bool = False) -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        headers = {"Authorization": f"Bearer {token}",
                   "Accept-Encoding": "gzip" if gzip else "identity"}  # fmt: skip
        self._client = httpx.AsyncClient(base_url=base, limits=limits, timeout=600.0,
                                         headers=headers)  # fmt: skip

    async def get(self, path: str) -> tuple[int, int]:
        r = await self._client.get(path)
        return r.status_code, len(r.content)

    def close(self) -> None:
        pass  # one client for every worker: closed by ``aclose`` at the end

    async def aclose(self) -> None:
        await self._client.aclose()


Client = Connection | HttpxClient


async def hammer(
    connections: list[Client], path: str, total: int, seconds: float
) -> tuple[list[float], dict[str, int], int, float]:
    """``total`` GETs of ``path`` by one closed-loop worker per connection, none started after
    ``seconds``: latencies (s), errors, the last body's size, and the wall time."""
    latencies: list[float] = []
    left = [total]
    errors: dict[str, int] = {}
    size = [0]
    started = time.perf_counter()

    async def worker(conn: Client) -> None:
        while left[0] > 0 and time.perf_counter() - started < seconds:
            left[0] -= 1
            t0 = time.perf_counter()
            try:
                status, size[0] = await conn.get(path)
                kind = "" if status == 200 else f"HTTP {status}"
            except (OSError, ValueError, asyncio.IncompleteReadError, httpx.HTTPError) as exc:
                kind = type(exc).__name__
                conn.close()
            latencies.append(time.perf_counter() - t0)
            if kind:
                errors[kind] = errors.get(kind, 0) + 1

    await asyncio.gather(*(worker(c) for c in connections))
    return latencies, errors, size[0], time.perf_counter() - started


async def load(port: int, token: str, pid: int, args: argparse.Namespace) -> list[RouteResult]:
    shared = HttpxClient(f"http://127.0.0.1:{port}", token, args.clients, gzip=args.gzip)
    connections: list[Client] = [
        shared if args.client == "httpx" else Connection("127.0.0.1", port, token, gzip=args.gzip)
        for _ in range(args.clients)
    ]
    results = []
    try:
        for route in ROUTES:
            await hammer(connections, route, args.warmup, WARMUP_S)
            cpu0, own0 = cpu_seconds(pid), time.process_time()
            lat, errors, size, wall = await hammer(
                connections, route, args.requests, args.max_seconds
            )
            cpu, own = cpu_seconds(pid) - cpu0, time.process_time() - own0
            ms = np.asarray(lat) * 1000.0
            p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
            results.append(RouteResult(
                route, len(lat), sum(errors.values()), errors, p50, p95, p99, float(ms.max()), len(lat) / wall,
                cpu * 1000.0 / len(lat), own * 1000.0 / len(lat), size, p99 <= TARGET_MS and not errors,
            ))  # fmt: skip
            print(f"  {route}: {len(lat)} requests in {wall:.1f} s", flush=True)
    finally:
        for c in connections:
            c.close()
        await shared.aclose()
    return results


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/v1/ping", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"serve not ready in 60 s:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000, help="measured, per route")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured, per route")
    parser.add_argument("--hours", type=int, default=HOURS, help="equity points (1h candles)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="per route: no measured request starts later than this")  # fmt: skip
    parser.add_argument("--observations", type=int, default=1_000, help="per experiment")
    parser.add_argument("--client", choices=("stream", "httpx"), default="stream",
                        help="stream: one keep-alive asyncio connection per client (default); "
                        "httpx: the former shared httpx.AsyncClient")  # fmt: skip
    parser.add_argument("--gzip", action="store_true",
                        help="the stream clients accept gzip and inflate it (on these 2 cores "
                        "inflating 1,000 trades costs the client more than sending them "
                        "costs the server)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under 30 s")
    parser.add_argument("--keep", action="store_true", help="keep the temporary QT_HOME")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_api.json"))
    args = parser.parse_args()
    if args.quick:
        args.trades, args.clients, args.requests, args.warmup = 500, 10, 200, 20
        args.observations, args.hours, args.max_seconds = 100, 720, 5.0
    home = Path(tempfile.mkdtemp(prefix="qt_bench_api_"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "AI_ENGINE_"))}
    env |= {"QT_HOME": str(home), "QT_API_PASSWORD": secrets.token_urlsafe(24),
            "QT_API_SECRET": secrets.token_hex(32), "QT_API_USERNAME": USERNAME}  # fmt: skip
    t0 = time.perf_counter()
    content = populate(home, args.trades, args.hours, args.observations)
    build_s = time.perf_counter() - t0
    print(f"database: {content} built in {build_s:.1f} s", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = home / "serve.log"
    serve = shutil.which("quantum-trader") or str(Path(".venv/bin/quantum-trader").resolve())
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [serve, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(base, proc, log)
        login = httpx.post(f"{base}/api/v1/auth/login", timeout=10.0,
                           json={"username": USERNAME, "password": env["QT_API_PASSWORD"]})  # fmt: skip
        login.raise_for_status()
        load_before = os.getloadavg()
        t1 = time.perf_counter()
        results = asyncio.run(load(port, login.json()["access_token"], proc.pid, args))
        load_s = time.perf_counter() - t1
        load_after = os.getloadavg()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(f"\n{args.clients} clients, {args.requests} requests per route after {args.warmup} "
          f"warm-up; {args.trades} trades; target p99 <= {TARGET_MS:.0f} ms")  # fmt: skip
    head = ("route", "p50 ms", "p95 ms", "p99 ms", "max ms", "req/s", "cpu ms/req",
            "client ms", "bytes", "errors", "p99<=50")  # fmt: skip
    print(f"{head[0]:<28}" + "".join(f"{h:>11}" for h in head[1:]))
    for r in results:
        cells = (f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.max_ms:.1f}",
                 f"{r.throughput_rps:.0f}", f"{r.server_cpu_ms_per_request:.2f}",
                 f"{r.client_cpu_ms_per_request:.2f}", str(r.body_bytes), str(r.errors), "PASS" if r.passed else "FAIL")  # fmt: skip
        print(f"{r.route:<28}" + "".join(f"{c:>11}" for c in cells))
    for r in results:
        if r.errors:
            print(f"errors on {r.route}: {r.error_kinds}")
    print(f"load average before {tuple(round(x, 2) for x in load_before)}, "
          f"after {tuple(round(x, 2) for x in load_after)}; cores {os.cpu_count()}; "
          f"build {build_s:.1f} s, load {load_s:.1f} s")  # fmt: skip
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "database": content,
           "build_s": build_s, "load_s": load_s, "target_p99_ms": TARGET_MS,
           "loadavg_before": load_before, "loadavg_after": load_after,
           "cpu_count": os.cpu_count(), "routes": [asdict(r) for r in results]}  # fmt: skip
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
