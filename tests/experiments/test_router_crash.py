"""``kill -9`` of a process routing an experiment on SQLite (the world of
``test_router_restart.py``): its router state survives whole, and the restarted process, which
replays its hours from the start on fresh accounts as the main job does, ends where a process
never interrupted ends: the same orders, real positions and router state, no order counted
twice.

The child is killed twice, each restart taking up what the last left:

1. ``os._exit`` inside the write of its router state, before the commit: the write is lost
   whole, and what is stored is the state before it (a state an uninterrupted router had);
2. SIGKILL from this process while it waits after an hour.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore, router_state_to_json

ROOT = Path(__file__).resolve().parents[2]
NAME = "killed"

CHILD = """
import json, os, sys
from sqlalchemy import event
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore, router_state_to_json
from tests.experiments import test_router_restart as world

engine = open_database(sys.argv[1])
die_in_write, pause_after = int(sys.argv[2]), int(sys.argv[3])  # 0 / -1: never
writes = [0]

@event.listens_for(engine, "after_cursor_execute")
def after(conn, cursor, statement, parameters, context, executemany):
    if statement.startswith("UPDATE experiment_router_state"):  # each save begins with it
        writes[0] += 1
        if writes[0] == die_in_write:
            print("dying in write", writes[0], flush=True)
            os._exit(137)

w = world._world(SqlExperimentStore(engine), sys.argv[4])
resumed = w.router.resumed
print("resumed", "none" if resumed is None else router_state_to_json(resumed), flush=True)
for i in range(world.HOURS):
    w.hour(i)
    print("hour", i, flush=True)
    if i == pause_after:
        print("paused", flush=True)
        sys.stdin.readline()  # killed here
end = {"asked": w.spy.asked, "seen": w.seen, "state": router_state_to_json(w.router.state()),
       "counts": [w.router.sent, w.router.refused, w.router.trimmed]}
print("end", json.dumps(end), flush=True)
"""


def _child(db: Path, die_in_write: int = 0, pause_after: int = -1, name: str = NAME) -> Any:
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    args = [sys.executable, "-c", CHILD, f"sqlite:///{db}", str(die_in_write), str(pause_after)]
    return subprocess.Popen(
        [*args, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _lines(child: Any, *, kill_when_paused: bool = False) -> list[str]:
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip("\n"))
        if kill_when_paused and line.startswith("paused"):
            child.send_signal(signal.SIGKILL)
    child.wait(timeout=120)
    return lines


def _end(lines: list[str]) -> dict[str, Any]:
    ends = [line for line in lines if line.startswith("end ")]
    assert len(ends) == 1, lines[-20:]
    end: dict[str, Any] = json.loads(ends[0][4:])
    return end


def test_a_killed_router_resumes_and_ends_as_one_never_interrupted(tmp_path: Path) -> None:
    reference_db, db = tmp_path / "reference.sqlite", tmp_path / "killed.sqlite"
    for path in (reference_db, db):
        open_database(f"sqlite:///{path}").dispose()  # migrated once, before the children
    reference = _child(reference_db)
    first = _child(db, die_in_write=3)  # the third save: the ETH unit's ratio, before its entry
    reference_lines, first_lines = _lines(reference), _lines(first)
    expected = _end(reference_lines)
    assert first.returncode == 137 and "dying in write 3" in first_lines, first_lines[-5:]
    assert first_lines[0] == "resumed none"
    engine = open_database(f"sqlite:///{db}")
    stored = SqlExperimentStore(engine).load_router_state(NAME)
    engine.dispose()
    # the second save (after the BTC entry) is whole in the store; the third not there at all
    assert stored is not None and list(stored.units) == [f"BTCUSDT@{3 * 3_600_000}"]
    assert stored.sent == 1 and stored.opened == {"BTCUSDT"} and not stored.capped

    second = _child(db, pause_after=8)
    second_lines = _lines(second, kill_when_paused=True)
    assert second.returncode == -signal.SIGKILL and second_lines[-1] == "paused"
    assert second_lines[0] == f"resumed {router_state_to_json(stored)}"

    third = _child(db)
    third_lines = _lines(third)
    assert third.returncode == 0, third_lines[-20:]
    assert third_lines[0] != "resumed none"
    end = _end(third_lines)
    assert end == expected  # orders, real positions, router state and counters
    assert end["counts"] == [4, 0, 1]  # counted once, whatever the replays asked again
