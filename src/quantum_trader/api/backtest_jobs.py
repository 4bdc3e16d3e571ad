"""Backtests as background jobs: one child process at a time, persisted under the home.

A job runs ``quantum-trader backtest`` (as the CLI runs it) in a child process, never in the
API's event loop or its threads, with its outputs (``metrics.json``, ``trades.csv``,
``report.html``) in the job's folder. Its strategy is the SMA cross (``sma_cross``: the replay
through the engine, checkpointed into a database in the job's folder) or ``ai`` (the full
decision path, ``app/cli/backtest_ai.py``: the main job's replay of the window on models it
trains before it; it keeps its checkpoints in that backtest's own database and writes
``progress.json`` into its ``--out`` instead). The API never waits on it: every read polls the
child (``Popen.poll``, no thread), reads its progress (``sma_cross``: the checkpointed engine
time over the asked span; ``ai``: the candles replayed over the candles to replay, 0 while its
models train) and, once it has exited, its metrics or why it failed: the CLI's one-line error
(``error: …``, which it prints to stdout) or else the last line it wrote. Its stdout and
stderr go to ``output.log`` in the job's folder.

The jobs are a JSON file (``jobs.json``) in ``root``, rewritten atomically on every change,
so a restarted ``serve`` lists them; a job still queued or running in the file when ``serve``
starts belongs to a process that is gone (or no longer followed) and is marked failed.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from quantum_trader.clock.clock import Clock
from quantum_trader.domain.time import fmt

State = Literal["queued", "running", "finished", "failed"]
Strategy = Literal["sma_cross", "ai"]
STRATEGIES: tuple[Strategy, ...] = ("sma_cross", "ai")
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
JOBS_FILE = "jobs.json"
LOG_FILE = "output.log"  # the child's stdout and stderr
#: what ``backtest --strategy ai --out DIR`` keeps in DIR while it runs (``backtest_ai.py``):
#: ``{"done": candles replayed, "total": candles to replay}``
PROGRESS_FILE = "progress.json"


class JobConflict(RuntimeError):
    """A job is already queued or running (the route answers 409)."""


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What a job replays: the CLI's backtest over ``[start, end)`` (epoch ms) with
    ``strategy``; ``fast`` and ``slow`` are the SMA cross's (an ``ai`` job ignores them). A job
    file written before jobs had a strategy loads as ``sma_cross``, which they all were."""

    symbols: tuple[str, ...]
    timeframe: str
    start: int
    end: int
    fast: int = 10
    slow: int = 30
    strategy: Strategy = "sma_cross"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            raise ValueError(f"unknown backtest strategy {self.strategy!r}; known: {known}")

    def arguments(self) -> list[str]:
        """The ``quantum-trader backtest`` options (``--start``/``--end`` as ISO instants)."""
        common = [
            "backtest", "--symbols", *self.symbols, "--timeframe", self.timeframe,
            "--start", fmt(self.start), "--end", fmt(self.end), "--strategy", self.strategy,
        ]  # fmt: skip
        if self.strategy == "ai":
            return [*common, "--quiet"]
        return [*common, "--fast", str(self.fast), "--slow", str(self.slow), "--quiet"]


@dataclass(frozen=True, slots=True)
class BacktestJob:
    job_id: int
    request: BacktestRequest
    state: State
    created_at: int  # wall clock, ms
    started_at: int | None = None
    finished_at: int | None = None
    progress: float = 0.0  # replayed span / asked span, 1.0 once finished
    reason: str = ""  # why it failed
    pid: int | None = None
    metrics: dict[str, float | int | str | None] = field(default_factory=dict)


def _finite(metrics: Mapping[str, Any]) -> dict[str, float | int | str | None]:
    """JSON-safe metrics: a value that is not a finite number or a string becomes None."""
    out: dict[str, float | int | str | None] = {}
    for key, value in metrics.items():
        ok = isinstance(value, str) or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
        out[str(key)] = value if ok else None
    return out


def why(folder: Path) -> str:
    """Why a job's child failed: the last ``error: …`` line of its output (the CLI's one-line
    error, ``app/cli/main.py``), else its last line (a traceback's exception)."""
    path = folder / LOG_FILE
    text = path.read_text(errors="replace") if path.is_file() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1]


class BacktestJobs:
    """Starts, follows and lists backtest jobs. ``command`` is the argv prefix that runs the
    CLI (``serve`` passes the running interpreter with the CLI's entry point); ``env`` the
    child's environment (None: this process's, so the same home, store and data folder)."""

    def __init__(
        self,
        root: Path,
        command: Sequence[str],
        clock: Clock,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self._command = list(command)
        self._clock = clock
        self._env = dict(env) if env is not None else None
        self._lock = threading.Lock()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        root.mkdir(parents=True, exist_ok=True)
        self._jobs = {job.job_id: job for job in self._load()}
        for job in list(self._jobs.values()):
            if job.state in ACTIVE:
                self._jobs[job.job_id] = replace(
                    job, state="failed", finished_at=self._now(),
                    reason=f"serve stopped while the job was {job.state} (pid {job.pid})",
                )  # fmt: skip
        self._save()

    # --- reads ------------------------------------------------------------------------------
    def jobs(self) -> list[BacktestJob]:
        """Every job, newest first, each as of now."""
        with self._lock:
            self._refresh()
            return sorted(self._jobs.values(), key=lambda j: j.job_id, reverse=True)

    def get(self, job_id: int) -> BacktestJob | None:
        with self._lock:
            self._refresh()
            return self._jobs.get(job_id)

    def folder(self, job_id: int) -> Path:
        return self.root / str(job_id)

    def report(self, job_id: int) -> Path:
        return self.folder(job_id) / "out" / "report.html"

    # --- start ------------------------------------------------------------------------------
    def start(self, request: BacktestRequest) -> BacktestJob:
        """Queue the job and start its process; JobConflict while another one is active."""
        with self._lock:
            self._refresh()
            busy = [j.job_id for j in self._jobs.values() if j.state in ACTIVE]
            if busy:
                raise JobConflict(f"backtest job {busy[0]} is still running: one at a time")
            job_id = max(self._jobs, default=0) + 1
            job = BacktestJob(job_id, request, "queued", self._now())
            self._jobs[job_id] = job
            self._save()
            folder = self.folder(job_id)
            folder.mkdir(parents=True, exist_ok=True)
            argv = [*self._command, *request.arguments(), "--out", str(folder / "out")]
            if request.strategy == "sma_cross":  # ``ai`` writes its progress into --out
                argv += [
                    "--db", f"sqlite:///{(folder / 'checkpoints.sqlite').resolve().as_posix()}",
                    "--run-id", f"api-backtest-{job_id}",
                ]  # fmt: skip
            with (folder / LOG_FILE).open("wb") as output:
                child = subprocess.Popen(  # argv built here, no shell
                    argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    env=self._env,
                )  # fmt: skip
            self._children[job_id] = child
            job = replace(job, state="running", started_at=self._now(), pid=child.pid)
            self._jobs[job_id] = job
            self._save()
            return job

    def wait(self, timeout_s: float) -> None:
        """Wait for the running children to exit (tests; a shutdown)."""
        for child in list(self._children.values()):
            child.wait(timeout_s)

    # --- following --------------------------------------------------------------------------
    def _refresh(self) -> None:
        changed = False
        for job_id, child in list(self._children.items()):
            job = self._jobs[job_id]
            code = child.poll()
            if code is None:
                progress = self._progress(job)
                if progress != job.progress:
                    self._jobs[job_id] = replace(job, progress=progress)
                    changed = True
                continue
            del self._children[job_id]
            self._jobs[job_id] = self._ended(job, code)
            changed = True
        if changed:
            self._save()

    def _ended(self, job: BacktestJob, code: int) -> BacktestJob:
        folder = self.folder(job.job_id)
        metrics = folder / "out" / "metrics.json"
        now = self._now()
        if code == 0 and metrics.is_file():
            payload = json.loads(metrics.read_text())
            return replace(
                job, state="finished", finished_at=now, progress=1.0,
                metrics=_finite(payload.get("metrics", {})),
            )  # fmt: skip
        return replace(
            job, state="failed", finished_at=now, reason=f"exit code {code}: {why(folder)}"[:500]
        )

    def _progress(self, job: BacktestJob) -> float:
        """The job's progress so far, under 1 (the last reading while none can be read)."""
        done = self._ai_progress(job) if job.request.strategy == "ai" else self._replayed(job)
        return job.progress if done is None else round(min(max(done, 0.0), 0.99), 4)

    def _ai_progress(self, job: BacktestJob) -> float | None:
        """The candles replayed over the candles to replay (0 while the models train)."""
        path = self.folder(job.job_id) / "out" / PROGRESS_FILE
        try:
            payload = json.loads(path.read_text())
            done, total = int(payload["done"]), int(payload["total"])
        except (OSError, ValueError, KeyError, TypeError):  # not written yet
            return None
        return done / total if total > 0 else 0.0

    def _replayed(self, job: BacktestJob) -> float | None:
        """The checkpointed engine time over the asked span (0 before the first checkpoint)."""
        path = self.folder(job.job_id) / "checkpoints.sqlite"
        if not path.is_file():
            return None
        try:
            with sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True, timeout=0.2) as db:
                row = db.execute("SELECT max(last_time) FROM replay_checkpoints").fetchone()
        except sqlite3.Error:  # not created yet, or being written: the last reading stands
            return None
        if row is None or row[0] is None:
            return None
        span = job.request.end - job.request.start
        return (int(row[0]) - job.request.start) / span if span > 0 else 0.0

    # --- persistence ------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self._clock.now())

    def _load(self) -> list[BacktestJob]:
        path = self.root / JOBS_FILE
        if not path.is_file():
            return []
        jobs = []
        for raw in json.loads(path.read_text()):
            request = BacktestRequest(
                **{**raw["request"], "symbols": tuple(raw["request"]["symbols"])}
            )
            jobs.append(BacktestJob(**{**raw, "request": request}))
        return jobs

    def _save(self) -> None:
        path = self.root / JOBS_FILE
        temporary = path.with_suffix(".tmp")
        rows = [asdict(job) for job in sorted(self._jobs.values(), key=lambda j: j.job_id)]
        temporary.write_text(json.dumps(rows, indent=1))
        os.replace(temporary, path)
