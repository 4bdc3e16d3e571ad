import pytest

from quantum_trader.clock import Scheduler, SimulatedClock
from quantum_trader.domain.time import MS_PER_MINUTE


def test_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(100)
    clock.advance_to(200)
    with pytest.raises(ValueError, match="time cannot go backwards"):
        clock.advance_to(150)


def test_jobs_fire_at_their_times_in_order_even_when_late() -> None:
    sched = Scheduler()
    fired: list[tuple[str, int]] = []
    sched.every("a", 30 * MS_PER_MINUTE, lambda t: fired.append(("a", t)), start_at=0)
    sched.every("b", 60 * MS_PER_MINUTE, lambda t: fired.append(("b", t)), start_at=0)
    ran = sched.run_due(90 * MS_PER_MINUTE)
    m = MS_PER_MINUTE
    expected = [("a", 0), ("b", 0), ("a", 30 * m), ("a", 60 * m), ("b", 60 * m), ("a", 90 * m)]
    assert fired == expected
    assert ran == expected
    assert sched.run_due(90 * m) == []


def test_cancel_and_bad_interval() -> None:
    sched = Scheduler()
    fired: list[int] = []
    sched.every("x", 10, fired.append, start_at=0)
    sched.cancel("x")
    assert sched.run_due(100) == []
    with pytest.raises(ValueError, match="interval_ms must be > 0"):
        sched.every("y", 0, fired.append, start_at=0)


def test_jobs_without_catch_up_collapse_missed_periods() -> None:
    sched = Scheduler()
    fired: list[int] = []
    sched.every("refresh", 10, fired.append, start_at=0, catch_up=False)
    sched.run_due(0)
    sched.run_due(35)  # periods at 10, 20, 30 were missed: one run, at 30
    sched.run_due(39)
    sched.run_due(40)
    assert fired == [0, 30, 40]


def test_a_job_that_raises_runs_again_at_its_next_period() -> None:
    """A reconciliation whose request got no answer raised out of ``run_due`` and was never
    scheduled again: the session went on unreconciled (issue 23)."""
    sched = Scheduler()
    fired: list[int] = []

    def reconcile(t: int) -> None:
        fired.append(t)
        if t == 10:
            raise TimeoutError("the venue did not answer")

    sched.every("reconcile", 10, reconcile, start_at=0)
    sched.run_due(0)
    with pytest.raises(TimeoutError, match="did not answer"):
        sched.run_due(10)
    assert sched.run_due(20) == [("reconcile", 20)]
    assert fired == [0, 10, 20]
