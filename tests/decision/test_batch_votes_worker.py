"""The batch votes' worker: several may run at once (production's pipeline and the shadow
accounts'), and the interpreter's switch interval is lowered while any runs, given back when
the last one stops, whatever the order."""

from __future__ import annotations

import sys

import pytest

from quantum_trader.decision.batch_votes import BATCH_SWITCH_INTERVAL_S, BatchVoteWorker


def test_the_switch_interval_is_given_back_when_the_last_worker_stops() -> None:
    before = sys.getswitchinterval()
    assert before != BATCH_SWITCH_INTERVAL_S
    first, second = BatchVoteWorker(), BatchVoteWorker()
    assert first.start()(lambda: 1).result() == 1
    second.start()
    assert sys.getswitchinterval() == pytest.approx(BATCH_SWITCH_INTERVAL_S)
    first.stop()  # the first to start stops first: the second still runs
    assert sys.getswitchinterval() == pytest.approx(BATCH_SWITCH_INTERVAL_S)
    first.stop()  # stopping twice changes nothing
    second.start()  # a restart stops its earlier worker first
    second.stop()
    assert sys.getswitchinterval() == before
