"""RSS per service role and candle-to-engine latency across processes (issue 21).

Three processes on a small replay (SYMBOLS, REPLAY_DAYS of the shared 1h data, xgb + lgbm,
the learning modules off, as ``tests/services/test_engine_on_stream.py``), each on a fresh
SQLite home in a temporary folder:

1. ``quantum-trader run`` (the single process), its RSS sampled (itself and, apart, its
   descendants: training/report workers).
2. ``quantum-trader up --redis-url … --role engine --role api`` (the engine role as a child
   of ``up``, reading ``PREFIX:market.candle.closed``, and the api role on a free port with a
   random password and secret, which nothing queries: its RSS is an idle server's) and, once the engine has trained and is waiting
   on the stream, ``quantum-trader service market-data --batch 1 --pause-s PAUSE_S`` started
   by the bench (``up`` does not pass ``--pause-s`` on): one candle per append, PAUSE_S real
   seconds apart, so the engine waits for each candle instead of draining a backlog. RSS of
   ``up``, each role (engine, api), its descendants and market-data is sampled every SAMPLE_S
   from ``/proc/<pid>/status`` (VmRSS): peak and last sample. The api serves until stopped:
   once ``up`` says the engine finished, the bench stops ``up`` with SIGINT (as Ctrl-C).

Latency, without any change to the code measured: the bench holds a Redis ``MONITOR``
connection while the stream is published, and takes both timestamps from Redis's own clock:

* *append*: the time Redis logged the ``XADD`` of the candle's entry (run by the publisher's
  script; its id is ``CLOSE_TIME-RANK``);
* *done*: the time Redis logged the engine's first ``XREAD`` whose cursor is at or past that
  entry. The engine's loop (``Engine.run_bars`` over ``CandleStreamSource``) asks for the next
  entry only after its handlers returned for this one (decision, risk, the order submitted to
  the simulated venue), so this is the moment the engine had acted on the candle, plus one
  loopback round trip.

Both come from one clock (Redis's), so no clock skew between processes. ``MONITOR`` costs
Redis some throughput (it serialises every command to the monitor); the publisher and engine
do a few commands per candle. The figures are per candle (all candles) and for the candles
that placed an order (``exec_orders.created_at`` = the candle's close, same symbol).

Run: ``nice -n 5 .venv/bin/python bench/bench_services.py`` (Redis at ``QT_BENCH_REDIS_URL``,
default ``redis://127.0.0.1:6379/0``, a unique stream prefix; data at ``QT_DATA_DIR``, default
``../shared/data``; ``BENCH_PAUSE_S`` default 0.1).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from quantum_trader.adapters.candle_stream import stream_name  # noqa: E402
from quantum_trader.app.cli.serve import CLI_COMMAND as CLI  # noqa: E402

URL = os.environ.get("QT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATA = Path(os.environ.get("QT_DATA_DIR", str(ROOT.parent / "shared" / "data")))
SYMBOLS = "BTCUSDT,ETHUSDT"
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "10"))
PAUSE_S = float(os.environ.get("BENCH_PAUSE_S", "0.1"))
SAMPLE_S = 0.1
SMALL = {
    "CONTINUOUS_LEARNING_ENABLED": "false",
    "MODEL_SUPERVISOR_ENABLED": "false",
    "QT_RL_AGENTS": "false",
    "AI_ENGINE_MIN_CONSENSUS": "1",
    "QT_ENTRY_COST_GATE": "false",
}


def env_for(home: Path) -> dict[str, str]:
    """The caller's environment without its settings, plus the small replay's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) and not k.endswith("_ENABLED")
    }
    return (
        env
        | SMALL
        | {
            "PYTHONPATH": str(ROOT / "src"),
            "QT_HOME": str(home),
            "QT_DATA_DIR": str(DATA),
            "QT_SYMBOLS": SYMBOLS,
            "QT_TIMEFRAME": "1h",
            "QT_TRAIN_DAYS": "60",
            "QT_REPLAY_DAYS": str(REPLAY_DAYS),
            "QT_RL_TRAIN_DAYS": "31",
            "QT_OFFLINE": "true",
            "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
            "COLUMNS": "400",
        }
    )


# ---------------------------------------------------------------- RSS from /proc


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None  # a zombie has no VmRSS


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int, kids: dict[int, list[int]]) -> list[int]:
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def role_of(pid: int) -> str | None:
    """``engine``/``api``/``market-data`` for a ``… service ROLE`` process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    if "service" in argv and argv.index("service") + 1 < len(argv):
        return argv[argv.index("service") + 1]
    return None


@dataclass
class Track:
    peak: float = 0.0
    last: float = 0.0
    pids: set[int] = field(default_factory=set)


class Sampler(threading.Thread):
    """Samples the RSS of named groups of processes every SAMPLE_S until stopped. ``groups``
    is called with the children map and returns {name: [pids]}; a group's RSS is the sum."""

    def __init__(self, groups: Callable[[dict[int, list[int]]], dict[str, list[int]]]) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.tracks: dict[str, Track] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for name, pids in self.groups(children_map()).items():
                values = [v for v in map(rss_mb, pids) if v is not None]
                t = self.tracks.setdefault(name, Track())
                t.pids |= set(pids)
                if values:
                    t.last = sum(values)
                    t.peak = max(t.peak, t.last)
            self.halt.wait(SAMPLE_S)

    def stop(self) -> dict[str, Track]:
        self.halt.set()
        self.join()
        return self.tracks


# ---------------------------------------------------------------- Redis MONITOR


class Monitor(threading.Thread):
    """Redis's log of the commands on one stream: XADD (id, time) and XREAD (cursor, time)."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        super().__init__(daemon=True)
        self.client, self.stream = client, stream
        self.appends: dict[str, float] = {}
        self.reads: list[tuple[float, str]] = []
        self.ready = threading.Event()
        self.halt = threading.Event()

    def run(self) -> None:
        with self.client.monitor() as m:
            self.ready.set()
            while not self.halt.is_set():
                cmd: dict[str, Any] = m.next_command()
                text = str(cmd.get("command", ""))
                if self.stream not in text:
                    continue
                tokens = text.split(" ", 8)
                verb = tokens[0].upper()
                if verb == "XADD" and tokens[1] == self.stream:
                    self.appends[tokens[2]] = float(cmd["time"])
                elif verb == "XREAD" and tokens[-2] == self.stream:
                    self.reads.append((float(cmd["time"]), tokens[-1]))


def key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def latencies(mon: Monitor, last_id: str) -> tuple[dict[str, float], int]:
    """Per candle entry: first engine XREAD at/after its cursor minus its append, in ms; and
    how many candles arrived while the engine was still busy with an earlier one."""
    reads = sorted(mon.reads)
    out: dict[str, float] = {}
    busy = 0
    previous: tuple[int, int] | None = None
    for entry, appended in sorted(mon.appends.items(), key=lambda kv: key(kv[0])):
        if key(entry) >= key(last_id):  # the end entry
            continue
        done = next((t for t, c in reads if t >= appended and key(c) >= key(entry)), None)
        if done is not None:
            out[entry] = (done - appended) * 1000
        # the engine was idle when the candle came iff its last XREAD before the append had
        # moved past the previous candle (it had acted on it and was waiting for this one)
        before = [c for t, c in reads if t < appended]
        if previous is not None and (not before or key(before[-1]) < previous):
            busy += 1
        previous = key(entry)
    return out, busy


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


# ---------------------------------------------------------------- the runs


def free_port() -> int:
    """A TCP port free on this machine now (for the api role)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Lines(threading.Thread):
    """Collects a process's output lines as they come (``up`` runs until it is stopped)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


def single_run(home: Path) -> tuple[dict[str, Track], float, str]:
    proc = subprocess.Popen([*CLI, "run"], env=env_for(home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    sampler = Sampler(lambda k: {"run": [proc.pid], "run workers": descendants(proc.pid, k)})
    started = time.perf_counter()
    sampler.start()
    out, _ = proc.communicate(timeout=900)
    elapsed = time.perf_counter() - started
    tracks = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{out[-3000:]}")
    return tracks, elapsed, out


def services_run(home: Path, prefix: str) -> dict[str, Any]:
    client = redis.Redis.from_url(URL)
    stream = stream_name(prefix)
    mon = Monitor(redis.Redis.from_url(URL), stream)
    mon.start()
    mon.ready.wait(10)
    env = env_for(home)
    api = {  # the api refuses to start without a password and a secret
        "QT_API_PORT": str(free_port()),
        "QT_API_PASSWORD": secrets.token_hex(16),
        "QT_API_SECRET": secrets.token_hex(32),
    }
    up = subprocess.Popen([*CLI, "up", "--redis-url", URL, "--stream-prefix", prefix, "--role",
                           "engine", "--role", "api"], env=env | api, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)  # fmt: skip
    up_lines = Lines(up)
    up_lines.start()
    md: list[subprocess.Popen[str]] = []

    def groups(k: dict[int, list[int]]) -> dict[str, list[int]]:
        g: dict[str, list[int]] = {"up": [up.pid]}
        for child in k.get(up.pid, []):
            role = role_of(child)
            if role is None:  # forked, not yet the role's program
                continue
            g[role] = [child]
            g[f"{role} workers"] = descendants(child, k)
        if md:
            g["market-data"] = [md[0].pid]
        return g

    sampler = Sampler(groups)
    started = time.perf_counter()
    sampler.start()
    # the engine trains, then reads the stream: wait for its first XREAD before publishing
    while not mon.reads:
        if up.poll() is not None:
            up_lines.join(10)
            raise SystemExit(f"up ended before reading:\n{''.join(up_lines.lines)[-3000:]}")
        time.sleep(0.2)
    waited = time.perf_counter() - started
    md.append(subprocess.Popen([*CLI, "service", "market-data", "--redis-url", URL,
                                "--stream-prefix", prefix, "--batch", "1", "--pause-s",
                                str(PAUSE_S)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True))  # fmt: skip
    md_out, _ = md[0].communicate(timeout=900)
    engine_done = "up | engine finished (exit 0)"  # the supervisor's line (services/supervisor.py)
    deadline = time.monotonic() + 900
    while up.poll() is None and not up_lines.has(engine_done) and time.monotonic() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    serving = up.poll() is None  # the api serves until stopped: up ends only if it ended too
    if serving:
        up.send_signal(signal.SIGINT)
    up.wait(timeout=120)
    up_lines.join(10)
    up_out = "".join(up_lines.lines)
    tracks = sampler.stop()
    mon.halt.set()
    client.xadd(f"{prefix}:bench.wake", {"x": "1"})  # a command on the stream's prefix…
    client.xlen(stream)  # …and one naming it, so the monitor's loop sees its halt
    mon.join(timeout=10)
    stopped_by_bench = serving and up.returncode == 130  # else the api had ended by itself
    if md[0].returncode != 0 or not up_lines.has(engine_done) or not stopped_by_bench:
        raise SystemExit(f"market-data {md[0].returncode}, up {up.returncode}:\n"
                         f"{md_out[-2000:]}\n{up_out[-3000:]}")  # fmt: skip
    if not tracks.get("api", Track()).peak:
        raise SystemExit(f"the api role's process was never sampled:\n{up_out[-3000:]}")
    api_lines = [line for line in up_out.splitlines() if line.startswith(("api |", "up | api"))]
    print("api role:", *api_lines[-4:], sep="\n  ")
    last: Any = client.xrevrange(stream, count=1)
    lat, busy = latencies(mon, last[0][0].decode())
    with sqlite3.connect(home / "quantum_trader.sqlite") as db:
        orders = db.execute("select symbol, created_at from exec_orders").fetchall()
    rank = {s: r for r, s in enumerate(SYMBOLS.split(","))}
    ordered = {f"{t}-{rank[s]}" for s, t in orders} & set(lat)
    client.delete(*client.scan_iter(f"{prefix}:*"))  # the stream, its marks, bench.wake
    return {
        "tracks": tracks, "elapsed": elapsed, "waited": waited, "lat": lat, "busy": busy,
        "ordered": [lat[e] for e in ordered], "orders": len(orders),
        "candles": len(mon.appends) - 1, "md_out": md_out, "up_out": up_out,
    }  # fmt: skip


def show(name: str, values: list[float]) -> None:
    if not values:
        print(f"| {name} | 0 | – | – | – | – |")
        return
    print(f"| {name} | {len(values)} | {statistics.median(values):.2f} | {pct(values, 99):.2f} "
          f"| {max(values):.2f} | {statistics.mean(values):.2f} |")  # fmt: skip


def main() -> None:
    if not DATA.is_dir():
        raise SystemExit(f"no data at {DATA} (QT_DATA_DIR)")
    prefix = f"bench-services-{uuid.uuid4().hex[:8]}"
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {os.getloadavg()}; "
          f"{SYMBOLS} {REPLAY_DAYS} days 1h; pause {PAUSE_S} s, batch 1; {URL} {prefix}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-services-") as tmp:
        single, single_s, _ = single_run(Path(tmp) / "single")
        print(f"run: {single_s:.1f} s")
        # the same store (the data it imported), a fresh database: the engine trains again
        shutil.copytree(Path(tmp) / "single" / "store", Path(tmp) / "services" / "store")
        r = services_run(Path(tmp) / "services", prefix)
    print(f"services: {r['elapsed']:.1f} s, of which {r['waited']:.1f} s before the engine's "
          f"first XREAD; {r['candles']} candles appended, {r['orders']} orders; load "
          f"{os.getloadavg()}")  # fmt: skip
    print("\n| process | peak RSS MB | final RSS MB | pids |\n|---|---|---|---|")
    for name, t in [*single.items(), *r["tracks"].items()]:
        print(f"| {name} | {t.peak:.0f} | {t.last:.0f} | {len(t.pids)} |")
    print("\nappend → engine done with the candle, ms (Redis clock)\n"
          "| candles | n | p50 | p99 | max | mean |\n|---|---|---|---|---|---|")  # fmt: skip
    show("all", list(r["lat"].values()))
    show("placing an order", r["ordered"])
    print(f"candles appended while the engine was still busy with an earlier one: {r['busy']}")
    print("\nmarket-data:", r["md_out"].strip().splitlines()[-1:])


if __name__ == "__main__":
    main()
