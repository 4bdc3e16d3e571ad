"""The kill switch: a person's order to stop trading, kept until a person lifts it.

Its state lives in a store (the database), not in memory: a restart finds it where it was left,
and a CLI in another process can engage it while the engine runs (the engine reads the store
before every order). Every change is appended, so the history says who pulled it and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from quantum_trader.clock.clock import Clock
from quantum_trader.domain.errors import DomainValidationError


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    engaged: bool
    reason: str
    changed_by: str
    changed_at: int


class KillSwitchStore(Protocol):
    def latest_kill_switch(self) -> KillSwitchState | None: ...

    def append_kill_switch(self, state: KillSwitchState) -> None: ...


class KillSwitch:
    """Engage or release the kill switch; read its persisted state."""

    def __init__(self, store: KillSwitchStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def state(self) -> KillSwitchState:
        latest = self._store.latest_kill_switch()
        if latest is None:
            return KillSwitchState(False, "never engaged", "", 0)
        return latest

    @property
    def engaged(self) -> bool:
        return self.state().engaged

    def engage(self, reason: str, *, by: str) -> KillSwitchState:
        if not reason.strip():
            raise DomainValidationError("KillSwitch", "reason", reason, "say why trading stops")
        state = KillSwitchState(True, reason, by, self._clock.now())
        self._store.append_kill_switch(state)
        return state

    def release(self, *, by: str, reason: str = "released by hand") -> KillSwitchState:
        state = KillSwitchState(False, reason, by, self._clock.now())
        self._store.append_kill_switch(state)
        return state
