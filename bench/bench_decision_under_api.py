"""The engine's decision latency while the HTTP API serves load (issue 20: "the engine's
decision p99 stays <= 3 ms while the API serves that load").

One home: the first child process trains the members (not measured). ``quantum-trader serve``
then runs beside the engine on the same database, as an operator runs it. ``REPEATS``
alternating pairs of replays (``bench_pipeline.child``: the live path, members voting candle
by candle, ``QT_REPLAY_DAYS`` of BTCUSDT and ETHUSDT, the default modules), each its own
process:

* **quiet**: the API is up and idle;
* **loaded**: ``CLIENTS`` closed-loop clients (each a keep-alive connection on plain asyncio,
  ``bench_api.Connection``, all in one thread of this process; they were one
  ``httpx.AsyncClient``, whose own CPU per request exceeded the server's) request
  ``/api/v1/status``, ``/api/v1/risk`` and ``/api/v1/trades?limit=1000`` in turn for the
  whole replay, from a server at ``serve``'s default priority (nice 10, ``app/cli/serve.py``
  ``API_NICENESS``);
* **loaded, nice 0**: the same from a second server started with ``--niceness 0`` (the
  engine's priority), to show what the lower priority buys.

The decision p99 of each replay (candle in → risk-checked order out, as the engine records it)
and, for the loaded ones, the API's own p50/p99 over the replay. The engine, the API server
and the clients share the machine's cores (2 here), as they would on it.

    QT_DATA_DIR=../shared/data PYTHONPATH=src .venv/bin/python bench/bench_decision_under_api.py
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench_api import Connection, free_port, wait_ready
from bench_pipeline import child

SYMBOLS = os.environ.get("BENCH_SYMBOLS", "BTCUSDT,ETHUSDT")
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "10"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "50"))
ROUTES = ("/api/v1/status", "/api/v1/risk", "/api/v1/trades?limit=1000")
BUDGET_US = 3_000


class Load:
    """``CLIENTS`` closed-loop clients on the API until :meth:`stop`; their latencies (s)."""

    def __init__(self, base: str, token: str) -> None:
        self._base, self._token = base, token
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.errors = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        host, _, port = self._base.removeprefix("http://").partition(":")
        connections = [Connection(host, int(port), self._token) for _ in range(CLIENTS)]

        async def worker(conn: Connection, k: int) -> None:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.get(ROUTES[k % len(ROUTES)])
                    self.errors += status != 200
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    self.errors += 1
                    conn.close()
                self.latencies.append(time.perf_counter() - t0)
                k += 1

        try:
            await asyncio.gather(*(worker(c, k) for k, c in enumerate(connections)))
        finally:
            for c in connections:
                c.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def main() -> None:
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    home = Path(tempfile.mkdtemp(prefix="qt-bench-decision-api-"))
    password, user = secrets.token_urlsafe(24), "operator"
    env = dict(os.environ) | {
        "QT_HOME": str(home), "QT_API_PASSWORD": password, "QT_API_SECRET": secrets.token_hex(32),
        "QT_API_USERNAME": user, "QT_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    print(f"machine: {os.cpu_count()} cores; {SYMBOLS}; {REPLAY_DAYS}-day replays; "
          f"{CLIENTS} API clients", flush=True)  # fmt: skip
    child(home, 1, symbols=SYMBOLS)  # trains the members: not measured
    serve = shutil.which("quantum-trader") or str(Path(".venv/bin/quantum-trader").resolve())
    servers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    p99: dict[str, list[float]] = {"quiet": [], "loaded": [], "loaded, nice 0": []}
    try:
        for name, niceness in (("loaded", "10"), ("loaded, nice 0", "0")):
            port, log = free_port(), home / f"serve-{niceness}.log"
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    [serve, "serve", "--port", str(port), "--niceness", niceness],
                    env=env, stdout=sink, stderr=subprocess.STDOUT,
                )  # fmt: skip
            servers[name] = (f"http://127.0.0.1:{port}", proc)
            wait_ready(servers[name][0], proc, log)
        tokens = {}
        for name, (base, _) in servers.items():
            login = httpx.post(f"{base}/api/v1/auth/login", timeout=10.0,
                               json={"username": user, "password": password})  # fmt: skip
            login.raise_for_status()
            tokens[name] = login.json()["access_token"]
        for repeat in range(REPEATS):
            for name in p99:
                load = Load(servers[name][0], tokens[name]) if name in servers else None
                before = os.getloadavg()[0]
                run = child(home, REPLAY_DAYS, False, symbols=SYMBOLS)
                api = ""
                if load is not None:
                    load.stop()
                    ms = np.asarray(load.latencies) * 1000.0
                    api = (f"; API {len(ms)} requests, p50 {np.percentile(ms, 50):.0f} ms, "
                           f"p99 {np.percentile(ms, 99):.0f} ms, {load.errors} errors")  # fmt: skip
                lat = run["latency_us"]
                assert isinstance(lat, dict)
                p99[name].append(float(lat["p99"]))
                print(f"  repeat {repeat + 1} {name}: decision p50 {lat['p50']:.0f} µs, p99 "
                      f"{lat['p99']:.0f} µs, {run['decisions']} decisions, load "
                      f"{before:.1f}{api}", flush=True)  # fmt: skip
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    quiet = statistics.median(p99["quiet"])
    for name in ("loaded", "loaded, nice 0"):
        loaded = statistics.median(p99[name])
        print(f"decision p99, median of {REPEATS}: API idle {quiet:.0f} µs, API {name} "
              f"{loaded:.0f} µs ({loaded / quiet - 1:+.1%}); budget {BUDGET_US:,} µs: "
              f"{'met' if loaded <= BUDGET_US else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
