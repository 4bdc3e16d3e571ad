"""``kill -9`` during a Q-table save: after restart the table is intact and at most 100 updates
are lost (issue 18, acceptance).

A child process runs a Q-learner on a SQLite database with a fixed stream of updates (update
``i`` is a pure function of ``i``), saving every 100 updates. It is killed four times, each run
restarting from what the last one left:

1. ``os._exit`` from inside the save's transaction, after the old cells were deleted and the
   header rewritten, before the new cells are inserted (the worst moment, made certain);
2. three times SIGKILL from this process, sent the moment the child says a save began.

After each death the test restores the table as a new run would and checks that it is
*intact* — cell for cell, bit for bit, the table a learner has after exactly the stored number
of updates of the stream, a multiple of 100 — and that it is at most 100 updates behind the
last update the child reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector

STREAM = """
from quantum_trader.agents.qstate import QState
from quantum_trader.domain.market import Regime

STATES = [QState(r, v, c, p).key for r in [x.value for x in Regime] + ["NONE"]
          for v in range(3) for c in range(3) for p in (-1, 0, 1)]
ACTIONS = ("TrendFollowing", "MeanReversion", "Breakout")

def step(i):
    return STATES[i % len(STATES)], ACTIONS[(i // 7) % 3], ((i * 7919) % 2001 - 1000) / 1e5
"""

CHILD = (
    """
import os, sys
from sqlalchemy import event
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
"""
    + STREAM
    + """
engine = open_database(sys.argv[1])
sql = SqlQTableRepository(engine)

class Announcing:  # says when a save begins and ends, so the parent can kill inside one
    def save(self, snapshot):
        print("save-begin", snapshot.updates, flush=True)
        sql.save(snapshot)
        print("save-end", snapshot.updates, flush=True)

    def load(self, scope):
        return sql.load(scope)

die_in_insert = int(sys.argv[2])  # 0: run until killed
inserts = [0]

@event.listens_for(engine, "before_cursor_execute")
def maybe_die(conn, cursor, statement, parameters, context, executemany):
    if statement.startswith("INSERT INTO rl_qtable_cells"):
        inserts[0] += 1
        if inserts[0] == die_in_insert:
            os._exit(137)  # old cells deleted, header rewritten, nothing committed

sel = QLearningSelector(QLearningConfig(), seed=0, repository=Announcing(), scope="crash")
sel.restore()
print("restored", sel.updates, flush=True)
while True:
    sel.update(*step(sel.updates))
    print("update", sel.updates, flush=True)
"""
)


def reference(updates: int) -> QLearningSelector:
    namespace: dict[str, object] = {}
    exec(STREAM, namespace)  # the child's stream, here
    step = namespace["step"]
    sel = QLearningSelector(QLearningConfig(), seed=0)
    for i in range(updates):
        sel.update(*step(i))  # type: ignore[operator]
    return sel


def run_child(db: Path, *, die_in_insert: int = 0, kill_at_save: int = 0) -> list[str]:
    """Run the child until it dies; its output lines. ``kill_at_save``: SIGKILL it as soon as
    it announces its n-th save."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite:///{db}", str(die_in_insert)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    lines, begun = [], 0
    try:
        for line in child.stdout:
            if not line.endswith("\n"):  # cut by the kill mid-write: it says nothing
                break
            lines.append(line.split())
            if lines[-1][0] == "save-begin":
                begun += 1
                if begun == kill_at_save:
                    os.kill(child.pid, signal.SIGKILL)
                    break
        # what it wrote before it died, but a last line the kill cut in two (seen under load)
        lines += [line.split() for line in child.stdout if line.endswith("\n")]
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read() if child.stderr else ""
    assert code in (137, -signal.SIGKILL), (code, stderr[-2000:])
    return [" ".join(x) for x in lines]


def test_kill_9_during_saves_leaves_an_intact_table_at_most_100_updates_behind(
    tmp_path: Path,
) -> None:
    db = tmp_path / "qt.sqlite"
    engine = open_database(f"sqlite:///{db}")
    engine.dispose()
    rounds = [{"die_in_insert": 7}, {"kill_at_save": 3}, {"kill_at_save": 5}, {"kill_at_save": 2}]
    inside = 0
    for number, how in enumerate(rounds, 1):
        lines = run_child(db, **how)
        # updates the child made: the last reported, or the save it died in (a save runs
        # inside the update that makes the count a multiple of 100, before it is reported)
        reached = max(int(x.split()[1]) for x in lines if x.startswith(("update", "save-begin")))
        last_begin = [x for x in lines if x.startswith("save-")][-1]
        inside += last_begin.startswith("save-begin")  # it died before saying the save ended
        engine = open_database(f"sqlite:///{db}")
        restored = QLearningSelector(
            QLearningConfig(), seed=0, repository=SqlQTableRepository(engine), scope="crash"
        )
        assert restored.restore(), f"round {number}: no table after the kill"
        engine.dispose()
        kept = restored.updates
        print(f"round {number} ({how}): reached {reached}, restored {kept}, last: {last_begin}")
        assert kept % 100 == 0 and kept > 0
        assert reached - 100 <= kept <= reached + 1  # +1: an update done, not yet reported
        assert restored.table.cells() == reference(kept).table.cells()
    assert inside >= 1  # the os._exit round died inside its save, by construction
