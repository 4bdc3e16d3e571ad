"""``kill -9`` at points of the main job's paper replay, restart: the ledger of the run that
completes equals an uninterrupted run's (issue 22 Part B item 1, at CI size).

Three kills on one home, each followed by a restart: one at a random moment of the first run
(bootstrap training, most likely), two at random moments after a committed checkpoint of the
replay (orders, fills, risk decisions, agents' and experiments' saves in flight). After each:
SQLite's integrity check is clean, no committed order lacks the risk decision that approved it,
no worker process of the killed run is alive, and ``status`` says the engine is not running and
names the killed run CRASHED (exit 3). Then the replay runs to its end: every earlier run is
CRASHED, this one FINISHED, and its orders, fills, trades and equity curve equal those of the
same replay on a fresh home, uninterrupted, to 1e-9. ``bench/bench_crash_consistency.py`` runs
100 kills (figures in docs/reliability.md). A kill at each point of an order's life is in
``test_crash_order_points.py`` (its own file, so that ``make test``'s two processes run the
two long tests side by side).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import kill_replay as kr

pytestmark = [pytest.mark.data, pytest.mark.slow]

SYMBOLS = "BTCUSDT,ETHUSDT"
REPLAY_DAYS = 10


def test_killed_replays_restarted_end_with_the_uninterrupted_ledger(
    tmp_path: Path, data_dir: Path
) -> None:
    reference = kr.replay_env(tmp_path / "ref", data_dir, symbols=SYMBOLS, replay_days=REPLAY_DAYS)
    done = kr.run_child(reference)
    assert done.returncode == 0, done.stderr[-3000:]
    (ref_run,) = kr.run_ids(reference)
    expected = kr.ledger(reference, ref_run)
    assert len(expected["fills"]) > 0, "the uninterrupted replay traded nothing: nothing to compare"

    env = kr.replay_env(tmp_path / "home", data_dir, symbols=SYMBOLS, replay_days=REPLAY_DAYS)
    rng = random.Random(20261206)
    kills = [kr.kill_after(env, rng.uniform(1.0, 15.0))]
    kills += [kr.kill_after(env, rng.uniform(0.0, 2.0), after_cursor=c) for c in (48, 144)]
    for kill in kills:
        print(kill.phase, kill)
        assert not kill.finished_first, "the replay ended before its kill"
        assert kill.integrity == "ok"
        assert kill.unapproved_orders == 0
        assert kill.workers_left == 0
        assert kill.status_code == 3, kill.status_line
        assert "engine not running" in kill.status_line
        if kill.run_id is not None:
            assert f"last run {kill.run_id} CRASHED" in kill.status_line
    assert any(k.cursor and k.orders for k in kills), "no kill landed after committed orders"

    done = kr.run_child(env)
    assert done.returncode == 0, done.stderr[-3000:]
    *killed, final = kr.run_ids(env)
    statuses = kr.run_statuses(env)
    assert statuses[final] == "FINISHED"
    assert {statuses[r] for r in killed} == {"CRASHED"}
    assert kr.ledger_differences(kr.ledger(env, final), expected) == []
