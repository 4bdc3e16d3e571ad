"""Processes serving a database (``status/services.py``): UP while they beat, DOWN three
periods after the last beat, STOPPED when they said so; every module is named with the
process that reports it."""

from __future__ import annotations

from dataclasses import replace

from quantum_trader.status.services import (
    DOWN_AFTER_PERIODS,
    ProcessState,
    ServiceProcess,
    process_of_modules,
)

PERIOD = 15_000


def _process(role: str, started: int, beat: int, *modules: str) -> ServiceProcess:
    return ServiceProcess(
        f"{role}@box:{started}", role, "box", started, None, PERIOD, started, beat,
        modules=modules,
    )  # fmt: skip


def test_up_until_three_periods_without_a_beat_then_down() -> None:
    p = _process("engine", 0, 1_000)
    assert DOWN_AFTER_PERIODS == 3 and p.down_after_ms() == 45_000
    assert p.state(1_000) is ProcessState.UP
    assert p.state(1_000 + 45_000) is ProcessState.UP
    assert p.state(1_000 + 45_001) is ProcessState.DOWN
    assert replace(p, stopped_at=2_000).state(10**12) is ProcessState.STOPPED
    assert "engine pid 0 on box: DOWN, last beat 60 s ago (DOWN after 45 s)" in p.describe(61_000)


def test_a_module_is_named_with_the_up_process_that_reports_it() -> None:
    now = 1_000_000
    dead = _process("engine", 100, 200, "market_data", "risk")  # killed long ago
    live = _process("engine", 500_000, now - 1_000, "market_data")
    api = _process(
        "api",
        600_000,
        now,
    )
    owners = process_of_modules([dead, live, api], now)
    assert owners["market_data"] is live  # the one beating, not the dead one
    assert owners["risk"] is dead  # only the dead one reports it: shown DOWN, not hidden
    assert set(owners) == {"market_data", "risk"}
