"""Kill the main job's paper replay with SIGKILL, start it again, compare (issue 22 Part B item 1).

Shared by ``tests/reliability/test_crash_consistency.py`` (a few kills, in CI) and
``bench/bench_crash_consistency.py`` (100 kills). The replay is ``quantum-trader run`` offline,
in a child process, on a small window of the shared data with every learning module on; the
child checkpoints every ``CHECKPOINT_EVERY`` candles instead of the CLI's 1,000, so that a kill
lands between committed checkpoints with orders, fills and risk decisions already written (with
1,000 a window this small would commit nothing before its end).

A restart runs the replay again from its start (the main job cannot resume a replay mid-way,
docs/architecture.md): the engine lock marks the killed run CRASHED and the new run's ledger is
its own. What is compared is therefore the ledger of the run that finally completes against an
uninterrupted run's on a fresh home: everything the killed runs left behind (models, policies,
Q-tables, experiments, risk state, half-written files) must change nothing of it.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_EVERY = 24
KILLED = -signal.SIGKILL

#: where a child kills itself (``KILL_REPLAY_AT=<point>:<n>``), at its session's n-th order
POINTS = ("decided", "acknowledged", "committed")

CHILD = f"""
import dataclasses, os, signal, sys
from quantum_trader.app import main_job
from quantum_trader.app.cli.main import main
from quantum_trader.engine.checkpoint import Checkpointer
from quantum_trader.execution.order_manager import OrderManager

config = main_job.session_config
main_job.session_config = lambda s, r, **kw: dataclasses.replace(
    config(s, r, **kw), checkpoint_every={CHECKPOINT_EVERY}
)
point, _, nth = os.environ.get("KILL_REPLAY_AT", "").partition(":")
seen = [0]
submit, send, commit = OrderManager.submit, OrderManager._send, Checkpointer.commit

def die(at):
    if at == point and (seen[0] >= int(nth) if at == "committed" else seen[0] == int(nth)):
        os.kill(os.getpid(), signal.SIGKILL)

def submit_then(self, *args, **kwargs):
    if self._status is not None:  # the session's manager (a shadow account's has no handle)
        seen[0] += 1
        die("decided")  # decided, not yet taken by the order manager
    return submit(self, *args, **kwargs)

def send_then(self, order, good_till):
    answer = send(self, order, good_till)
    if self._status is not None:
        die("acknowledged")  # the simulated exchange answered, the manager has not recorded it
    return answer

def commit_then(self, *, finished):
    commit(self, finished=finished)
    die("committed")  # the order is in the database, with its fills and risk decision

if point:
    OrderManager.submit, OrderManager._send, Checkpointer.commit = submit_then, send_then, commit_then
sys.argv = ["quantum-trader", "run"]
main()
"""


def replay_env(home: Path, data_dir: Path, *, symbols: str, replay_days: int) -> dict[str, str]:
    """The child's environment: the caller's without any of its settings, plus the replay's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) and not k.endswith("_ENABLED")
    }
    return env | {
        "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
        "QT_SYMBOLS": symbols,
        "QT_TIMEFRAME": "1h",
        "QT_TRAIN_DAYS": "60",
        "QT_REPLAY_DAYS": str(replay_days),
        "QT_RL_TRAIN_DAYS": "31",
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
    }


def _database(env: Mapping[str, str]) -> Path:
    return Path(env["QT_HOME"]) / "quantum_trader.sqlite"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc: the training and report workers)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parent_of.items() if pp == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass(frozen=True)
class Kill:
    """What one SIGKILL left: where it landed and what the checks read afterwards."""

    delay_s: float
    finished_first: bool  # the run ended before its kill (nothing killed)
    by_harness: bool  # SIGKILL came from the harness (False: the child's own, at its point)
    run_id: str | None  # the run the kill ended (None: killed before it registered)
    run_status: str | None  # its row in ``runs`` after the kill (FINISHED: killed after its
    # end was recorded, while the report was written)
    cursor: int | None  # its last committed checkpoint (candles), None: none committed
    orders: int  # orders committed by the killed run
    workers_left: int  # its worker processes still alive 5 s after the kill
    integrity: str  # SQLite's integrity_check
    unapproved_orders: int  # committed orders (any run) without their approving risk decision
    status_code: int
    status_line: str  # status's line about the engine

    @property
    def phase(self) -> str:
        if self.finished_first:
            return "after the end"
        if self.run_id is None:
            return "before the run registered"
        if self.run_status == "FINISHED":
            return "after the run's end was recorded (its report being written)"
        if self.cursor is None:
            return "before the first checkpoint (training, warm-up, first candles)"
        return "in the replay, after a checkpoint"


def run_child(
    env: Mapping[str, str], *, timeout_s: float = 900.0
) -> subprocess.CompletedProcess[str]:
    """The replay to its end."""
    return subprocess.run(
        [sys.executable, "-c", CHILD],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )


def kill_after(
    env: Mapping[str, str], delay_s: float, *, after_cursor: int = 0, at: str = ""
) -> Kill:
    """Start the replay, SIGKILL it ``delay_s`` wall seconds after its start (with
    ``after_cursor``: after its first checkpoint at or past that many candles; with ``at``,
    ``<point>:<n>`` of :data:`POINTS`, it kills itself there and ``delay_s`` is how long it
    may take), then read what it left."""
    before = set(run_ids(env))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=dict(env) | ({"KILL_REPLAY_AT": at} if at else {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    workers: set[int] = set()
    while after_cursor and child.poll() is None and _cursor(env, before) < after_cursor:
        workers.update(_descendants(child.pid))
        time.sleep(0.05)
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline and child.poll() is None:
        workers.update(_descendants(child.pid))
        time.sleep(0.05)
    finished_first = child.poll() is not None and child.returncode != KILLED
    by_harness = child.poll() is None
    if by_harness:
        child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(5.0)  # a worker notices its parent's death within a second or two
    new = [r for r in run_ids(env) if r not in before]
    run_id = new[-1] if new else None
    status = cli(env, "status")
    line = " | ".join(x.strip() for x in status.stdout.splitlines() if "engine " in x)
    with sqlite3.connect(_database(env)) as db:
        cursor = None
        orders = 0
        run_status = None
        if run_id is not None:
            row = db.execute("select status from runs where run_id = ?", (run_id,)).fetchone()
            run_status = None if row is None else str(row[0])
            row = db.execute(
                "select cursor from replay_checkpoints where run_id = ?", (run_id,)
            ).fetchone()
            cursor = None if row is None else int(row[0])
            orders = db.execute(
                "select count(*) from exec_orders where run_id = ?", (run_id,)
            ).fetchone()[0]
        integrity = db.execute("pragma integrity_check").fetchone()[0]
    return Kill(
        delay_s=delay_s,
        finished_first=finished_first,
        by_harness=by_harness,
        run_id=run_id,
        run_status=run_status,
        cursor=cursor,
        orders=orders,
        workers_left=sum(_alive(p) for p in workers),
        integrity=integrity,
        unapproved_orders=unapproved_orders(env),
        status_code=status.returncode,
        status_line=line,
    )


def _cursor(env: Mapping[str, str], before: set[str]) -> int:
    """The newest run's last committed checkpoint (0: none yet, or no new run)."""
    new = [r for r in run_ids(env) if r not in before]
    if not new:
        return 0
    try:
        with sqlite3.connect(_database(env)) as db:
            row = db.execute(
                "select cursor from replay_checkpoints where run_id = ?", (new[-1],)
            ).fetchone()
    except sqlite3.OperationalError:  # locked by the writer a moment
        return 0
    return 0 if row is None else int(row[0])


def cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``quantum-trader ARGS`` on the replay's home, its tables one line per row (not wrapped)."""
    code = (
        "import sys; from quantum_trader.app.cli.main import main; "
        f"sys.argv = ['quantum-trader', *{list(args)!r}]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env) | {"COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def run_ids(env: Mapping[str, str]) -> list[str]:
    """The runs of the home, oldest first."""
    path = _database(env)
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        try:
            rows = db.execute("select run_id from runs order by started_at, rowid").fetchall()
        except sqlite3.OperationalError:  # killed before the schema was written
            return []
    return [r[0] for r in rows]


def run_statuses(env: Mapping[str, str]) -> dict[str, str]:
    with sqlite3.connect(_database(env)) as db:
        return dict(db.execute("select run_id, status from runs").fetchall())


def unapproved_orders(env: Mapping[str, str]) -> int:
    """Committed pipeline orders whose decision (``SYMBOL@time``) has no APPROVED or TRIMMED
    risk decision for that symbol and time in the database (a bracket names its entry's)."""
    import json

    with sqlite3.connect(_database(env)) as db:
        try:
            approvals = {
                (symbol, int(at))
                for symbol, at in db.execute(
                    "select symbol, time from risk_decisions where outcome != 'REJECTED'"
                )
            }
            orders = db.execute(
                "select symbol, decision_json from exec_orders where decision_json is not null"
            ).fetchall()
        except sqlite3.OperationalError:  # killed before the schema was written
            return 0
    missing = 0
    for symbol, decision_json in orders:
        decided = json.loads(decision_json)["decision_id"].split("@")
        missing += (symbol, int(decided[1])) not in approvals
    return missing


Row = tuple[Any, ...]


def ledger(env: Mapping[str, str], run_id: str) -> dict[str, list[Row]]:
    """A run's orders (client ids without the run's prefix), fills, trades and equity curve."""
    prefix = f"{run_id}-"
    with sqlite3.connect(_database(env)) as db:
        orders = db.execute(
            "select client_order_id, symbol, side, order_type, quantity, price, stop_price,"
            " reduce_only, status, filled_quantity, average_price, created_at, updated_at, reason"
            " from exec_orders where run_id = ? order by created_at, client_order_id",
            (run_id,),
        ).fetchall()
        fills = db.execute(
            "select client_order_id, symbol, side, quantity, price, fee, time, is_maker"
            " from exec_fills where run_id = ? order by time, client_order_id, fill_id",
            (run_id,),
        ).fetchall()
        trades = db.execute(
            "select symbol, side, quantity, entry_price, exit_price, entry_time, exit_time, pnl,"
            " fees, funding, strategy, exit_reason from exec_trades where run_id = ?"
            " order by entry_time, symbol, exit_time",
            (run_id,),
        ).fetchall()
        equity = db.execute(
            "select time, equity from equity_snapshots where run_id = ? order by time", (run_id,)
        ).fetchall()

    def strip(rows: Sequence[Row]) -> list[Row]:
        return [(r[0].removeprefix(prefix), *r[1:]) for r in rows]

    return {"orders": strip(orders), "fills": strip(fills), "trades": trades, "equity": equity}


def ledger_differences(
    a: Mapping[str, list[Row]], b: Mapping[str, list[Row]], tol: float = 1e-9
) -> list[str]:
    """Where two ledgers differ (numbers within ``tol``, relative to their size, are equal)."""

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) or isinstance(y, float):
            if x is None or y is None:
                return x is y
            return math.isclose(float(x), float(y), rel_tol=tol, abs_tol=tol)
        return bool(x == y)

    found = []
    for table in ("orders", "fills", "trades", "equity"):
        rows_a, rows_b = a[table], b[table]
        if len(rows_a) != len(rows_b):
            found.append(f"{table}: {len(rows_a)} rows against {len(rows_b)}")
            continue
        for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True)):
            if not all(same(x, y) for x, y in zip(ra, rb, strict=True)):
                found.append(f"{table} row {i}: {ra} against {rb}")
                break
    return found
