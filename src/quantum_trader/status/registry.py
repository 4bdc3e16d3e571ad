"""Module status: every module registers here and reports what it really does.

A module gets a :class:`ModuleHandle` and bumps evidence counters on the hot path (a dict
increment, no I/O). The registry writes a snapshot through its repository when ``flush`` is
called (by the engine's scheduler and at the end of a run), so ``quantum-trader status`` shows
the running or last-run engine's real state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from quantum_trader.clock.clock import Clock


class ModuleState(StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"


@dataclass(slots=True)
class ModuleStatus:
    name: str
    enabled: bool
    state: ModuleState
    reason: str
    run_id: str = ""
    last_heartbeat: int | None = None
    last_activity: int | None = None
    counters: dict[str, int] = field(default_factory=dict)

    def counters_json(self) -> str:
        return json.dumps(self.counters, sort_keys=True)


class StatusRepository(Protocol):
    def save(self, statuses: Iterable[ModuleStatus], at: int) -> None: ...

    def load_all(self) -> list[ModuleStatus]: ...


class ModuleHandle:
    """What a module holds to report its state and evidence."""

    __slots__ = ("_clock", "status")

    def __init__(self, status: ModuleStatus, clock: Clock) -> None:
        self.status = status
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.status.enabled

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to an evidence counter and mark activity now."""
        counters = self.status.counters
        counters[counter] = counters.get(counter, 0) + n
        self.status.last_activity = self._clock.now()

    def gauge(self, name: str, value: int) -> None:
        """Set an evidence figure that is a level, not a tally (a peak, a count kept
        elsewhere); it does not mark activity."""
        self.status.counters[name] = value

    def heartbeat(self) -> None:
        self.status.last_heartbeat = self._clock.now()

    def set_state(self, state: ModuleState, reason: str) -> None:
        if not self.status.enabled and state is not ModuleState.DISABLED:
            raise ValueError(
                f"module {self.status.name} is disabled by config ({self.status.reason}); "
                f"it cannot become {state}"
            )
        self.status.state = state
        self.status.reason = reason

    def fail(self, exc: BaseException) -> None:
        self.set_state(ModuleState.FAILED, f"{type(exc).__name__}: {exc}")


class StatusRegistry:
    """All modules of one engine run."""

    def __init__(
        self, clock: Clock, repository: StatusRepository | None = None, run_id: str = ""
    ) -> None:
        self._clock = clock
        self._repository = repository
        self._run_id = run_id
        self._modules: dict[str, ModuleHandle] = {}

    def register(self, name: str, *, enabled: bool, reason: str) -> ModuleHandle:
        """Register a module. Enabled modules start ACTIVE; disabled ones say why."""
        if name in self._modules:
            raise ValueError(f"module {name!r} is already registered")
        state = ModuleState.ACTIVE if enabled else ModuleState.DISABLED
        text = reason if enabled else f"disabled by config: {reason}"
        status = ModuleStatus(
            name=name, enabled=enabled, state=state, reason=text, run_id=self._run_id
        )
        status.last_heartbeat = self._clock.now()
        handle = ModuleHandle(status, self._clock)
        self._modules[name] = handle
        return handle

    def get(self, name: str) -> ModuleHandle:
        return self._modules[name]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def snapshot(self) -> list[ModuleStatus]:
        return [h.status for h in self._modules.values()]

    def heartbeat_all(self) -> None:
        for handle in self._modules.values():
            handle.heartbeat()

    def flush(self) -> None:
        if self._repository is not None:
            self._repository.save(self.snapshot(), self._clock.now())
