"""``kill -9`` at each point of an order's life on the paper path, restart: one order per
intent, and the ledger of the uninterrupted run (issue 22 Part B item 2, at CI size; the random
kills of item 1 are in ``test_crash_consistency.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.reliability import kill_replay as kr
from tests.reliability.test_crash_consistency import REPLAY_DAYS, SYMBOLS

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_a_kill_at_each_point_of_an_orders_life_leaves_one_order_per_intent(
    tmp_path: Path, data_dir: Path
) -> None:
    """Item 2 on the simulated venue. The child kills itself at its session's 3rd order, at each
    point of that order's life the paper path has: decided, before the order manager takes it;
    acknowledged by the simulated exchange, before the manager records it; committed at the
    next checkpoint. (An intent committed before its venue call, the live path's write-ahead,
    does not exist here: the replay commits at checkpoints, after the in-process exchange
    answered, and that exchange dies with the process, so nothing the killed run sent can
    fill later.) Each restart decides every intent again under its own run: the run that
    completes has exactly the uninterrupted run's orders, one per intent, and its ledger —
    also when, before it, a model trained on later candles was put in PRODUCTION (as a killed
    run's continuous learning may leave one): the bootstrap replaces it rather than serve it
    from the replay's start (served, its trades differ: 16 against 13 in a 20-day replay)."""
    reference = kr.replay_env(tmp_path / "ref", data_dir, symbols=SYMBOLS, replay_days=REPLAY_DAYS)
    done = kr.run_child(reference)
    assert done.returncode == 0, done.stderr[-3000:]
    (ref_run,) = kr.run_ids(reference)
    expected = kr.ledger(reference, ref_run)
    assert len(expected["orders"]) >= 3, "the uninterrupted replay sent fewer than 3 orders"

    env = kr.replay_env(tmp_path / "home", data_dir, symbols=SYMBOLS, replay_days=REPLAY_DAYS)
    for point in kr.POINTS:
        kill = kr.kill_after(env, 600.0, at=f"{point}:3")
        print(point, kill)
        assert not kill.finished_first and not kill.by_harness, f"{point}: never reached"
        assert kill.run_id is not None and kill.integrity == "ok"
        assert kill.unapproved_orders == 0 and kill.workers_left == 0
        # what the killed run committed: nothing of its 3rd order before a checkpoint took it
        assert kill.orders >= (3 if point == "committed" else 0)
        assert f"last run {kill.run_id} CRASHED" in kill.status_line

    # what a killed run's continuous learning may have promoted, made certain: a version
    # trained on the newest candles (the replay's included) in PRODUCTION before the restart
    trained = kr.cli(env, "train", "--models", "xgb", "--symbol", "BTCUSDT", "--days", "60",
                     "--no-progress")  # fmt: skip
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    version = max(int(v) for v in re.findall(r"xgb/BTCUSDT/h4\s*│\s*(\d+)", trained.stdout))
    promoted = kr.cli(env, "models", "promote", "xgb/BTCUSDT/h4", str(version),
                      "--to", "PRODUCTION", "--reason", "trained on later candles")  # fmt: skip
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr

    done = kr.run_child(env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model.production_replaced" in done.stdout + done.stderr  # it looked ahead
    final = kr.run_ids(env)[-1]
    assert kr.ledger_differences(kr.ledger(env, final), expected) == []
