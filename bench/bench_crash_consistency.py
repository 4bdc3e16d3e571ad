"""Crash consistency at full size: ``kill -9`` at 100 random points of the main job's paper
replay, a restart after each (issue 22 Part B item 1).

The harness is ``tests/reliability/kill_replay.py`` (``test_crash_consistency.py`` runs three
kills in CI): the replay is ``quantum-trader run`` offline on BTCUSDT and ETHUSDT 1h with every
learning module on, checkpointing every 24 candles. First an uninterrupted run on a fresh home
gives the reference ledger and the run's wall time ``T``. Then, on another home, each kill is
either at a uniform moment of ``[0.5 s, T]`` after the start (bootstrap training, warm-up,
the replay, the report) or, for every other kill, at a uniform moment of ``[0, 2 s]`` after a
checkpoint at a uniform candle of the replay (orders, fills, risk decisions, agents' and
experiments' saves in flight). After each kill: SQLite's integrity check, committed orders
without their approving risk decision, the killed run's workers still alive, and what
``status`` says. Finally the replay runs to its end and its ledger is compared with the
reference (orders, fills, trades, equity curve, to 1e-9).

    QT_DATA_DIR=../shared/data PYTHONPATH=.:src python bench/bench_crash_consistency.py [KILLS]

Prints one line per kill and a summary (kills by phase, each check's failures); writes it all
as JSON to ``BENCH_OUT`` (default ``crash_consistency.json`` in the working directory).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package (the harness)

from tests.reliability import kill_replay as kr

SYMBOLS = "BTCUSDT,ETHUSDT"
REPLAY_DAYS = 10
SEED = 20261206


def failures(kill: kr.Kill) -> list[str]:
    """The checks this kill failed (empty: all passed)."""
    found = []
    if kill.integrity != "ok":
        found.append(f"integrity: {kill.integrity}")
    if kill.unapproved_orders:
        found.append(f"{kill.unapproved_orders} orders without their approval")
    if kill.workers_left:
        found.append(f"{kill.workers_left} workers alive")
    if not kill.finished_first:
        ended = kill.run_status == "FINISHED"  # killed while its report was written
        truthful = (
            kill.status_code == (0 if ended else 3) and "engine not running" in kill.status_line
        )
        if kill.run_id is not None:
            said = "FINISHED" if ended else "CRASHED"
            truthful &= f"last run {kill.run_id} {said}" in kill.status_line
        if not truthful:
            found.append(f"status {kill.status_code}: {kill.status_line[:200]}")
    return found


def main(kills: int) -> None:
    data_dir = os.environ.get("QT_DATA_DIR")
    if not data_dir:
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    work = Path(tempfile.mkdtemp(prefix="bench_crash_"))
    reference = kr.replay_env(
        work / "ref", Path(data_dir), symbols=SYMBOLS, replay_days=REPLAY_DAYS
    )
    began = time.monotonic()
    done = kr.run_child(reference)
    duration = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(f"the uninterrupted replay failed:\n{done.stderr[-3000:]}")
    (ref_run,) = kr.run_ids(reference)
    expected = kr.ledger(reference, ref_run)
    candles = REPLAY_DAYS * 24 * len(SYMBOLS.split(","))
    print(f"reference: {duration:.0f} s, {len(expected['fills'])} fills, {candles} candles")

    env = kr.replay_env(work / "home", Path(data_dir), symbols=SYMBOLS, replay_days=REPLAY_DAYS)
    rng = random.Random(SEED)
    records = []
    for i in range(kills):
        if i % 2:
            after = rng.randrange(kr.CHECKPOINT_EVERY, candles, kr.CHECKPOINT_EVERY)
            kill = kr.kill_after(env, rng.uniform(0.0, 2.0), after_cursor=after)
        else:
            kill = kr.kill_after(env, rng.uniform(0.5, duration))
        failed = failures(kill)
        records.append({**dataclasses.asdict(kill), "phase": kill.phase, "failed": failed})
        print(
            f"{i + 1:3d} {kill.phase}: cursor {kill.cursor}, {kill.orders} orders"
            f"{'; FAILED ' + '; '.join(failed) if failed else ''}",
            flush=True,
        )
    done = kr.run_child(env)
    if done.returncode != 0:
        sys.exit(f"the final replay failed:\n{done.stderr[-3000:]}")
    *killed, final = kr.run_ids(env)
    statuses = kr.run_statuses(env)
    differences = kr.ledger_differences(kr.ledger(env, final), expected)
    summary = {
        "kills": kills,
        "by_phase": Counter(r["phase"] for r in records),
        "kills_failing_a_check": sum(bool(r["failed"]) for r in records),
        "runs": len(killed) + 1,
        "final_status": statuses[final],
        "earlier_runs_not_crashed": sum(statuses[r] != "CRASHED" for r in killed),
        "ledger_differences": differences,
        "reference_fills": len(expected["fills"]),
        "reference_trades": len(expected["trades"]),
        "wall_s": round(time.monotonic() - began),
    }
    print(json.dumps(summary, indent=2))
    out = Path(os.environ.get("BENCH_OUT", "crash_consistency.json"))
    out.write_text(json.dumps({"summary": summary, "kills": records}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
