"""Starts a set of processes (service roles), prefixes their output, restarts the ones that
crash, and stops them all together: what ``quantum-trader up`` runs.

Written here rather than taken from honcho: honcho's manager stops every process when one
exits, which is right for a development Procfile and wrong here. The engine role ends by
itself when its replay is done (exit 0) while the API goes on serving; a crashed role should
be restarted (a few times, with a growing pause), and a role that cannot start because its
configuration is wrong (the CLI's exit code 2) must not be restarted in a loop.

The policy, per role:

* **exit 0**: done; the others go on.
* **exit 2** (a configuration or usage error: one line naming the setting): failed, not
  restarted (starting it again would fail the same way).
* **any other exit** (a crash, a signal): restarted after ``backoff_s × 2^n`` seconds, at most
  ``max_restarts`` times; after that the supervisor stops every role and exits 1.

``run`` returns when every role is done: 0 when each ended with 0, else 1. SIGINT or SIGTERM
to the supervisor stops every role and returns 130. A role is stopped as Ctrl-C stops it (SIGINT: the engine records its run as
INTERRUPTED, the API server shuts down cleanly), then SIGKILL if it has not exited after
``stop_timeout_s``. Each output line of a role is written as ``<role> | <line>``.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

#: the CLI's exit code for a configuration or usage error: never restarted
CONFIG_ERROR = 2


@dataclass(frozen=True, slots=True)
class Role:
    """A service role: its name and the command that runs it."""

    name: str
    argv: tuple[str, ...]


@dataclass(slots=True)
class _Running:
    role: Role
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    restart_at: float | None = None  # monotonic time of a pending restart
    exit_code: int | None = None  # the final exit code once done
    pumps: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Runs ``roles`` until they are all done (see the module docstring)."""

    def __init__(
        self,
        roles: Sequence[Role],
        out: TextIO,
        *,
        env: Mapping[str, str] | None = None,
        max_restarts: int = 3,
        backoff_s: float = 1.0,
        stop_timeout_s: float = 10.0,
        poll_s: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [r.name for r in roles]
        if not roles or len(set(names)) != len(names):
            raise ValueError(f"supervisor: need distinct roles, got {names}")
        self._roles = [_Running(r) for r in roles]
        self._out = out
        self._env = dict(env) if env is not None else None
        self._max_restarts = max_restarts
        self._backoff_s = backoff_s
        self._stop_timeout_s = stop_timeout_s
        self._poll_s = poll_s
        self._now = monotonic
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()

    # --- running ----------------------------------------------------------------------------
    def run(self) -> int:
        """Start every role and supervise them until all are done (or a stop signal)."""
        previous = self._trap_signals()
        try:
            for running in self._roles:
                self._start(running)
            while not self._stopping.is_set():
                if self._step():
                    break
                self._stopping.wait(self._poll_s)
            if self._stopping.is_set():
                self._stop_all("a stop signal")
                return 130
            return 0 if all(r.exit_code == 0 for r in self._roles) else 1
        finally:
            self._restore_signals(previous)

    def stop(self) -> None:
        """Ask :meth:`run` to stop every role (what SIGINT and SIGTERM do)."""
        self._stopping.set()

    def _step(self) -> bool:
        """One look at every role; True when the supervision is over."""
        for running in self._roles:
            if running.restart_at is not None and self._now() >= running.restart_at:
                running.restart_at = None
                self._start(running)
                continue
            process = running.process
            if process is None or running.exit_code is not None:
                continue
            code = process.poll()
            if code is None:
                continue
            self._join_pumps(running)
            running.process = None
            if not self._ended(running, code):
                self._stop_all(f"{running.role.name} failed {running.restarts + 1} times")
                for other in self._roles:
                    if other.exit_code is None:
                        other.exit_code = -1
                return True
        return all(r.exit_code is not None for r in self._roles)

    def _ended(self, running: _Running, code: int) -> bool:
        """Apply the policy to a role that exited with ``code``; False: give up on all."""
        name = running.role.name
        if code == 0:
            running.exit_code = 0
            self._say(f"{name} finished (exit 0)")
        elif code == CONFIG_ERROR:
            running.exit_code = code
            self._say(f"{name} failed with a configuration error (exit 2): not restarted")
        elif running.restarts < self._max_restarts:
            pause = self._backoff_s * 2**running.restarts
            running.restarts += 1
            running.restart_at = self._now() + pause
            self._say(f"{name} exited {code}: restart {running.restarts}/{self._max_restarts} "
                      f"in {pause:g} s")  # fmt: skip
        else:
            running.exit_code = code
            self._say(f"{name} exited {code} after {running.restarts} restarts: stopping all")
            return False
        return True

    def _start(self, running: _Running) -> None:
        process = subprocess.Popen(  # argv from the role table, no shell
            list(running.role.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=self._env, bufsize=1,
        )  # fmt: skip
        running.process = process
        running.pumps = [
            threading.Thread(target=self._pump, args=(running.role.name, stream), daemon=True)
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        for pump in running.pumps:
            pump.start()
        self._say(f"{running.role.name} started (pid {process.pid})")

    # --- stopping ---------------------------------------------------------------------------
    def _stop_all(self, why: str) -> None:
        alive = [r for r in self._roles if r.process is not None and r.process.poll() is None]
        if alive:
            self._say(f"stopping {', '.join(r.role.name for r in alive)}: {why}")
        for running in alive:
            assert running.process is not None
            running.process.send_signal(signal.SIGINT)
        deadline = self._now() + self._stop_timeout_s
        for running in alive:
            assert running.process is not None
            try:
                running.process.wait(max(0.0, deadline - self._now()))
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
                self._say(f"{running.role.name} killed: no exit {self._stop_timeout_s:g} s "
                          "after SIGINT")  # fmt: skip
            self._join_pumps(running)
            running.exit_code = running.process.returncode
            running.process = None

    def _trap_signals(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signals reach the main thread only; a caller there uses stop()

        def handler(signum: int, frame: FrameType | None) -> None:
            self._stopping.set()

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signals(previous: dict[int, object]) -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)  # type: ignore[arg-type]

    # --- output -----------------------------------------------------------------------------
    def _pump(self, name: str, stream: TextIO) -> None:
        for line in stream:
            self._write(f"{name} | {line.rstrip()}")
        stream.close()

    @staticmethod
    def _join_pumps(running: _Running) -> None:
        for pump in running.pumps:
            pump.join(timeout=5.0)
        running.pumps = []

    def _say(self, text: str) -> None:
        self._write(f"up | {text}")

    def _write(self, line: str) -> None:
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()
