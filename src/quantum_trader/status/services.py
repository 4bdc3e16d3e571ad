"""The processes that serve one database, each with a wall-clock heartbeat: which role runs
where, which modules it reports, and whether it is UP, DOWN or STOPPED.

A process (the engine of a run, the HTTP API, later each service role of issue 21) records
itself at start and beats every ``period_ms`` of wall time from a thread of its own (not the
engine clock: a replay's clock races ahead of the wall, a live one idles between candles). It
is **DOWN** once no beat came for :data:`DOWN_AFTER_PERIODS` periods (45 s at the default 15 s
period): killed, hung or cut off from the database. A clean stop records its time and reads
**STOPPED**. ``quantum-trader status`` names, for every module, the process that reports it
and that process's state, so a module whose process is gone is never read as running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

#: a process is DOWN after this many periods without a beat
DOWN_AFTER_PERIODS = 3

#: the market-data role's module: its candle stream (the engine's ``market_data`` is its replay)
CANDLE_STREAM = "candle_stream"
#: the modules a service role other than the engine reports, by role. ``module_status`` is keyed
#: by the module's name, so a name is one role's: the engine's snapshot replaces every row but
#: these, and each role's replaces its own
ROLE_MODULES: Mapping[str, tuple[str, ...]] = MappingProxyType({"market-data": (CANDLE_STREAM,)})
#: every module of ``ROLE_MODULES``: the rows the engine's snapshot leaves alone
ROLE_MODULE_NAMES = frozenset(n for names in ROLE_MODULES.values() for n in names)


class ProcessState(StrEnum):
    UP = "UP"
    DOWN = "DOWN"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class ServiceProcess:
    """One process serving the database, as last recorded."""

    process_id: str
    role: str
    host: str
    pid: int
    run_id: str | None
    period_ms: int
    started_at: int
    beat_at: int
    stopped_at: int | None = None
    modules: tuple[str, ...] = ()

    def state(self, now: int) -> ProcessState:
        """UP, DOWN (no beat for ``DOWN_AFTER_PERIODS`` periods at wall time ``now``) or
        STOPPED (it said so)."""
        if self.stopped_at is not None:
            return ProcessState.STOPPED
        if now - self.beat_at > DOWN_AFTER_PERIODS * self.period_ms:
            return ProcessState.DOWN
        return ProcessState.UP

    def down_after_ms(self) -> int:
        """How long after its last beat it reads DOWN."""
        return DOWN_AFTER_PERIODS * self.period_ms

    def describe(self, now: int) -> str:
        """One line: role, where, state, and the age of its last beat."""
        age = max(0, now - self.beat_at) / 1000
        run = f" run {self.run_id}" if self.run_id else ""
        return (
            f"{self.role} pid {self.pid} on {self.host}{run}: {self.state(now)}, "
            f"last beat {age:.0f} s ago (DOWN after {self.down_after_ms() / 1000:.0f} s)"
        )

    def modules_json(self) -> str:
        return json.dumps(list(self.modules))


class ServiceRepository(Protocol):
    def start(self, process: ServiceProcess) -> None: ...

    def beat(self, process_id: str, at: int, modules: Sequence[str] | None = None) -> bool: ...

    def stop(self, process_id: str, at: int) -> None: ...

    def load_all(self) -> list[ServiceProcess]: ...


def process_of_modules(processes: Iterable[ServiceProcess], now: int) -> dict[str, ServiceProcess]:
    """For each module name, the process that reports it: among those that list it, an UP
    one before any other, then the most recently started."""
    rank = {ProcessState.UP: 0, ProcessState.STOPPED: 1, ProcessState.DOWN: 1}
    ordered = sorted(processes, key=lambda p: (rank[p.state(now)], -p.started_at))
    out: dict[str, ServiceProcess] = {}
    for process in ordered:
        for module in process.modules:
            out.setdefault(module, process)
    return out
