"""A replay killed right after a checkpoint leaves no committed order without the risk decision
that approved it (issue 22 Part A item 3).

The replay batches its risk decisions (``app/run_scope.py``) and commits its orders at
checkpoints (``engine/checkpoint.py``); a process killed between the two used to leave up to
255 approved orders without their approval in the audit trail. The child process below is
the main job on a short window of real candles, checkpointing every 24 candles, and it dies
with ``os._exit`` (no ``finally``, no lifecycle stop, as under SIGKILL) right after its eighth
checkpoint commit; the test then reads the database as the dead process left it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from quantum_trader.adapters.sql.tables_execution import exec_orders, replay_checkpoints
from quantum_trader.adapters.sql.tables_risk import risk_decisions

KILLED = 137

CHILD = """
import dataclasses, os, sys
from quantum_trader.app import main_job
from quantum_trader.config import load_settings
from quantum_trader.engine.checkpoint import Checkpointer

commit = Checkpointer.commit
seen = []

def commit_then_die(self, *, finished):
    commit(self, finished=finished)
    seen.append(finished)
    if len(seen) == 8:  # right after the eighth checkpoint is durable
        os._exit(137)

Checkpointer.commit = commit_then_die
config = main_job.session_config
main_job.session_config = lambda s, r, **kw: dataclasses.replace(
    config(s, r, **kw), checkpoint_every=24
)
start, end = int(sys.argv[1]), int(sys.argv[2])
main_job.run_main_job(load_settings(), window=(start, end), write_report=False)
raise SystemExit("the replay ended before its eighth checkpoint")
"""

START = 1_677_628_800_000  # 2023-03-01 00:00 UTC
END = START + 10 * 24 * 3_600_000


def orders_without_their_approval(url: str) -> tuple[int, int]:
    """(committed pipeline orders, those with no approving risk decision in the database).

    An order's decision reference is ``SYMBOL@time``: the risk engine let an intent for that
    symbol pass (APPROVED or TRIMMED) at that time (a bracket names its entry's decision)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            approvals = {
                (symbol, int(time))
                for symbol, time, outcome in conn.execute(
                    select(risk_decisions.c.symbol, risk_decisions.c.time, risk_decisions.c.outcome)
                )
                if outcome != "REJECTED"
            }
            orders = conn.execute(
                select(exec_orders.c.symbol, exec_orders.c.decision_json).where(
                    exec_orders.c.decision_json.is_not(None)
                )
            ).all()
    finally:
        engine.dispose()
    missing = 0
    for symbol, decision_json in orders:
        decided = json.loads(decision_json)["decision_id"].split("@")
        missing += (symbol, int(decided[1])) not in approvals
    return len(orders), missing


@pytest.mark.data
@pytest.mark.slow
def test_a_replay_killed_after_a_checkpoint_keeps_every_orders_approval(
    tmp_path: Path, data_dir: Path
) -> None:
    home = tmp_path / "home"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {  # no setting of the caller's leaks in (conftest's clean_env, for a child)
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) and not k.endswith("_ENABLED")
    }
    env |= {
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
        "QT_SYMBOLS": "BTCUSDT",
        "QT_TIMEFRAME": "1h",
        "QT_TRAIN_DAYS": "60",
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(START), str(END)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert child.returncode == KILLED, child.stderr[-3000:]

    url = f"sqlite:///{home / 'quantum_trader.sqlite'}"
    engine = create_engine(url)
    with engine.connect() as conn:
        (cursor,) = conn.execute(select(replay_checkpoints.c.cursor)).one()
    engine.dispose()
    assert cursor == 8 * 24  # the process died at its eighth checkpoint, not at the end
    orders, missing = orders_without_their_approval(url)
    print(f"committed orders: {orders}, without their approving risk decision: {missing}")
    assert orders > 0, "the replay placed no order before its eighth checkpoint"
    assert missing == 0
