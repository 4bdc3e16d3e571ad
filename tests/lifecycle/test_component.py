"""The lifecycle starts components in order, stops them in reverse, and reports failures."""

from __future__ import annotations

import pytest

from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.lifecycle import ComponentContext, ComponentState, Hooks, Lifecycle
from quantum_trader.lifecycle.component import LifecycleError
from quantum_trader.status.registry import ModuleState, StatusRegistry


def _context() -> ComponentContext:
    clock = SimulatedClock(0)
    return ComponentContext(clock, Scheduler(), InProcessBus(clock), StatusRegistry(clock))


def test_components_stop_in_reverse_order_of_start() -> None:
    calls: list[str] = []
    life = Lifecycle(_context())
    for name in ("a", "b", "c"):
        life.start(
            Hooks(
                name,
                start=lambda _ctx, n=name: calls.append(f"start {n}"),
                stop=lambda n=name: calls.append(f"stop {n}"),
            )
        )
    assert life.running == ["a", "b", "c"]
    life.stop_all()
    assert calls == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert set(life.states.values()) == {ComponentState.STOPPED}
    assert life.running == []


def test_a_failing_stop_does_not_keep_the_others_running_and_is_raised() -> None:
    ctx = _context()
    handle = ctx.status.register("b", enabled=True, reason="test module")
    stopped: list[str] = []

    def boom() -> None:
        raise OSError("disk full")

    life = Lifecycle(ctx)
    life.start(Hooks("a", stop=lambda: stopped.append("a")))
    life.start(Hooks("b", stop=boom))
    life.start(Hooks("c", stop=lambda: stopped.append("c")))
    with pytest.raises(LifecycleError, match="b: OSError"):
        life.stop_all()
    assert stopped == ["c", "a"]
    assert life.states["b"] is ComponentState.FAILED
    assert handle.status.state is ModuleState.FAILED
    assert "disk full" in handle.status.reason


def test_a_failing_start_marks_the_module_failed_and_is_not_stopped() -> None:
    ctx = _context()
    handle = ctx.status.register("x", enabled=True, reason="test module")

    def refuse(_ctx: ComponentContext) -> None:
        raise ValueError("bad config")

    life = Lifecycle(ctx)
    with pytest.raises(ValueError, match="bad config"):
        life.start(Hooks("x", start=refuse, stop=lambda: pytest.fail("never started")))
    assert handle.status.state is ModuleState.FAILED
    assert life.running == []
    life.stop_all()


def test_the_same_component_cannot_run_twice() -> None:
    life = Lifecycle(_context())
    life.start(Hooks("a"))
    with pytest.raises(ValueError, match="already running"):
        life.start(Hooks("a"))
