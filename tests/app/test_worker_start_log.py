"""A started training worker leaves a line saying how long it took to start."""

from __future__ import annotations

import json

import pytest

from quantum_trader.app.training_backend import log_started
from quantum_trader.clock import ProcessWorker
from quantum_trader.clock.worker_group import WorkerGroup
from quantum_trader.observability.logging import configure_logging


def test_a_started_worker_logs_its_start_time_and_priority(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(run_id="w1", fmt="json")
    with ProcessWorker("logged") as worker:
        log_started(worker)
        assert worker.applied is not None
        pid = worker.applied.pid
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "worker.started" in x]
    assert len(lines) == 1
    record = lines[0]
    assert record["worker"] == "logged" and record["pid"] == pid
    assert 0 < record["seconds"] < 60 and record["idle_class"] is True


def test_a_worker_not_started_logs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(run_id="w2", fmt="json")
    log_started(ProcessWorker("never"))
    assert "worker.started" not in capsys.readouterr().err


def test_a_started_worker_group_logs_each_member(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(run_id="w3", fmt="json")
    with WorkerGroup("group", 2) as group:
        log_started(group)
        pids = [m.applied.pid for m in group.members if m.applied is not None]
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "worker.started" in x]
    assert len(pids) == 2
    assert [(r["worker"], r["pid"]) for r in lines] == [("group-1", pids[0]), ("group-2", pids[1])]
