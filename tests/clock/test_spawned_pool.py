"""The one-off pools of the report and the forecaster training die with their parent
(issue 22, Part A 3: 284–572 MB workers outlived a killed engine indefinitely)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from quantum_trader.clock.workers import spawned_pool
from tests.clock.test_process_worker import ROOT, _alive, linux_only
from tests.clock.worker_tasks import slow_sum

PARENT = r"""
import os, sys, threading, time
from quantum_trader.clock.workers import spawned_pool
from tests.clock.worker_tasks import sleep_for

def start():
    pool = spawned_pool()
    pid = pool.submit(os.getpid).result()
    pool.submit(sleep_for, 120.0)  # the report or training in flight when the engine is killed
    print(pid, flush=True)

if sys.argv[1] == "thread":  # no death signal then: the watchdog alone must end the worker
    threading.Thread(target=start).start()
else:
    start()
time.sleep(120)
"""


def test_the_pool_computes_in_another_process() -> None:
    with spawned_pool() as pool:
        assert pool.submit(os.getpid).result() != os.getpid()
        assert pool.submit(slow_sum, (1.0, 2.0)).result() == 3.0


@linux_only
@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_a_killed_parent_leaves_no_pool_process_behind(started_from: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, started_from],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"pool process {pid} outlived its killed parent"
    finally:
        parent.kill()
        parent.wait(10)
