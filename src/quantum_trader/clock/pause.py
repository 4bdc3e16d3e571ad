"""The training workers stopped while a paced or live candle is decided.

The workers already run in the idle scheduling class (``worker_process.py``), yet on these
2 cores a busy idle-class process still delayed the decision thread by about one scheduler
tick (4 ms) now and then: the decision p99 was 5.5-7.6 ms with the workers training and
2.8-3.4 ms without them (docs/benchmarks.md, "The p99's tail on a quiet machine"). So while
the engine decides a candle that came on the wall clock, each busy worker process is stopped
(``SIGSTOP``) and continued (``SIGCONT``) when the decision is done. A live run decides once
per candle close, so the training loses milliseconds an hour; a replay decides back to back
and waits for its trainings, so it is never paused (``engine/session.py`` decides when).

Only a worker whose kernel death signal is armed is stopped (:meth:`ProcessWorker.pausable_pid`):
a stopped process cannot run its watchdog, but ``SIGKILL`` from the death signal ends it even
stopped, so an engine killed between the two signals leaves no stopped orphan behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class Pausable(Protocol):
    """A worker that can be stopped: the pids to stop now (none while idle, or not safe)."""

    name: str

    def pausable_pids(self) -> tuple[int, ...]: ...


#: receives a worker's evidence figures (a module handle's ``gauge``)
Report = Callable[[str, int], None]


@dataclass(slots=True)
class PauseStats:
    """The evidence: how many decisions stopped a worker, and for how long in all."""

    holds: int = 0  # decisions during which the worker (or, in all, any worker) was stopped
    stops: int = 0  # worker processes stopped, summed over holds
    held_ns: int = 0  # wall time spent stopped, summed over holds
    longest_ns: int = 0

    def add(self, stops: int, held_ns: int) -> None:
        self.holds += 1
        self.stops += stops
        self.held_ns += held_ns
        self.longest_ns = max(self.longest_ns, held_ns)


@dataclass(slots=True)
class _Entry:
    worker: Pausable
    report: Report | None
    stats: PauseStats = field(default_factory=PauseStats)


class TrainingPause:
    """Stops the registered workers around a decision (see the module docstring).

    ``enabled=False`` (``QT_TRAINING_PAUSE=false``) keeps the registrations and stops nothing:
    on a machine with cores to spare the pause buys nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.stats = PauseStats()  # over every worker
        self._entries: list[_Entry] = []

    def add(self, worker: Pausable, report: Report | None = None) -> None:
        """Stop ``worker`` in every hold from now on; ``report`` gets its figures after each
        hold that stopped it (``training_paused_decisions``, ``training_paused_ms``,
        ``training_paused_longest_us``)."""
        self._entries.append(_Entry(worker, report))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The workers stopped for the block's duration, continued however it ends."""
        held = self.hold()
        started = time.perf_counter_ns() if held else 0
        try:
            yield
        finally:
            if held:
                self.release(tuple(pid for pid, _ in held))
                self._count(held, time.perf_counter_ns() - started)

    def hold(self) -> tuple[tuple[int, _Entry], ...]:
        """Stop every worker that can be stopped now; the pids stopped, with their entries."""
        if not self.enabled:
            return ()
        stopped: list[tuple[int, _Entry]] = []
        for entry in self._entries:
            for pid in entry.worker.pausable_pids():
                with contextlib.suppress(ProcessLookupError):  # it ended since: nothing to stop
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append((pid, entry))
        return tuple(stopped)

    @staticmethod
    def release(pids: tuple[int, ...]) -> None:
        """Continue the processes :meth:`hold` stopped."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def _count(self, held: tuple[tuple[int, _Entry], ...], held_ns: int) -> None:
        self.stats.add(len(held), held_ns)
        for entry in self._entries:
            count = sum(1 for _, e in held if e is entry)  # a worker group stops several
            if not count:
                continue
            stats = entry.stats
            stats.add(count, held_ns)
            if entry.report is not None:
                entry.report("training_paused_decisions", stats.holds)
                entry.report("training_paused_ms", stats.held_ns // 1_000_000)
                entry.report("training_paused_longest_us", stats.longest_ns // 1_000)
