"""The component protocol and the ordered lifecycle of a run's components.

A composition root starts components in the order it builds them and stops them in reverse, so
a component never outlives what it depends on (the decision pipeline's workers stop before the
intelligence state they feed is saved, and that before the run is marked finished). Adding a
daemon to a run means building it and starting it here: no hand-written ``finally``.

Module status follows the lifecycle: a component whose start or stop raises marks its module
FAILED with the error as the reason (what it did before that stays as evidence), and a stop
that raises does not keep the other components from stopping; the errors are raised together
once every component has been asked to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from quantum_trader.bus.port import EventBus
from quantum_trader.clock.clock import Clock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.status.registry import StatusRegistry


class ComponentState(StrEnum):
    READY = "READY"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class ComponentContext:
    """What a component is started with: the run's clock, scheduler, bus and status."""

    clock: Clock
    scheduler: Scheduler
    bus: EventBus
    status: StatusRegistry


class Component(Protocol):
    """A long-lived part of a run. ``name`` is its module's name in the status registry when
    it has one."""

    @property
    def name(self) -> str: ...

    def start(self, ctx: ComponentContext) -> None: ...

    def stop(self) -> None: ...


class Hooks:
    """A component made of two callables, for parts whose start and stop are one call each
    (subscribe and schedule; close a worker; save a state)."""

    def __init__(
        self,
        name: str,
        *,
        start: Callable[[ComponentContext], object] | None = None,
        stop: Callable[[], object] | None = None,
    ) -> None:
        self._name = name
        self._start = start
        self._stop = stop

    @property
    def name(self) -> str:
        return self._name

    def start(self, ctx: ComponentContext) -> None:
        if self._start is not None:
            self._start(ctx)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()

    def __repr__(self) -> str:
        return f"Hooks({self._name!r})"


class LifecycleError(Exception):
    """One or more components failed to stop."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = failures
        detail = "; ".join(f"{name}: {exc!r}" for name, exc in failures)
        super().__init__(f"{len(failures)} component(s) failed to stop: {detail}")


class Lifecycle:
    """The run's components, started in order and stopped in reverse order."""

    def __init__(self, ctx: ComponentContext) -> None:
        self.ctx = ctx
        self._running: list[Component] = []
        self.states: dict[str, ComponentState] = {}

    def start(self, component: Component) -> None:
        """Start ``component`` now and remember it for :meth:`stop_all`."""
        name = component.name
        if self.states.get(name) is ComponentState.RUNNING:
            raise ValueError(f"component {name!r} is already running")
        try:
            component.start(self.ctx)
        except Exception as exc:
            self._failed(name, exc)
            raise
        self._running.append(component)
        self.states[name] = ComponentState.RUNNING

    def stop_all(self) -> None:
        """Stop every running component, the last started first; raise
        :class:`LifecycleError` after all were asked if any stop raised."""
        failures: list[tuple[str, BaseException]] = []
        while self._running:
            component = self._running.pop()
            try:
                component.stop()
            except Exception as exc:
                self._failed(component.name, exc)
                failures.append((component.name, exc))
            else:
                self.states[component.name] = ComponentState.STOPPED
        if failures:
            raise LifecycleError(failures)

    @property
    def running(self) -> list[str]:
        return [c.name for c in self._running]

    def _failed(self, name: str, exc: BaseException) -> None:
        self.states[name] = ComponentState.FAILED
        status = self.ctx.status
        if name in status:
            handle = status.get(name)
            if handle.enabled:
                handle.fail(exc)
