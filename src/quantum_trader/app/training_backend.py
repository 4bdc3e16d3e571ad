"""The training backend (``QT_TRAINING_BACKEND``): where training jobs and walk-forward folds run.

Both backends implement the worker port (``clock/worker_jobs.py``) and pass the same contract
tests (``tests/clock/test_worker_contract.py``):

* ``process`` (default): spawned processes on this machine at low priority
  (``clock/workers.py``): one for a training job, or a group of them for continuous
  learning's checks (``clock/worker_group.py``, ``QT_TRAINING_PROCESSES``), a pool for a
  walk-forward's folds (``evaluation/fold_pool.py``);
* ``ray``: Ray tasks (``adapters/ray_worker.py``, the ``ray`` extra), on a local Ray or on the
  cluster at ``QT_RAY_ADDRESS``. The tasks see the driver's settings variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from quantum_trader.adapters.ray_worker import RayWorker
from quantum_trader.clock.pause import TrainingPause
from quantum_trader.clock.worker_group import WorkerGroup
from quantum_trader.clock.workers import ProcessWorker
from quantum_trader.config.settings import Settings, env_name
from quantum_trader.evaluation.fold_pool import ProcessPool
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)

#: the variables settings are read from (``config/settings.py``), besides every ``QT_*``: a
#: Ray task sees the driver's, so that what it loads is what the driver loaded
SETTINGS_VARIABLES = frozenset(env_name(field) for field in Settings.model_fields)


def settings_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's settings variables, with ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k.startswith("QT_") or k in SETTINGS_VARIABLES}
    return {**env, **(overrides or {})}


def training_worker(
    settings: Settings,
    name: str,
    pause: TrainingPause | None = None,
    evidence: ModuleHandle | None = None,
    processes: int = 1,
) -> ProcessWorker | WorkerGroup | RayWorker:
    """The worker of a training job (not started): one low-priority process, or a group of
    ``processes`` for a job fanned out line by line, stopped by ``pause`` while a live candle is
    decided (``clock/pause.py``; how often and how long go to ``evidence``'s figures), or Ray
    (not on this machine's cores: never stopped)."""
    if settings.training_backend == "ray":
        return RayWorker(name, address=settings.ray_address, env=settings_environment())
    worker = ProcessWorker(name) if processes == 1 else WorkerGroup(name, processes)
    if pause is not None:
        pause.add(worker, evidence.gauge if evidence is not None else None)
    return worker


def log_started(worker: ProcessWorker | WorkerGroup | RayWorker) -> None:
    """Log how long each just-started process took to report its limits: a replay waits
    for its results, so a worker slow to start (idle priority on a saturated machine; it is
    refused past ``START_TIMEOUT_S``) is evidence when two replays of one commit differ."""
    members = worker.members if isinstance(worker, WorkerGroup) else [worker]
    for member in members:
        if isinstance(member, ProcessWorker) and member.applied is not None:
            applied = member.applied
            log.info("worker.started", worker=member.name, pid=applied.pid,
                     seconds=round(member.start_seconds or 0.0, 3), nice=applied.nice,
                     idle_class=applied.idle_class)  # fmt: skip


def fold_worker(settings: Settings, name: str, processes: int = 2) -> ProcessPool | RayWorker:
    """The worker of a walk-forward's folds (not started): a pool of ``processes`` local
    processes, or Ray. A fold replays the main job, whose own training jobs then run in
    processes inside the fold's task: never Ray tasks waiting on Ray tasks for its CPUs."""
    if settings.training_backend == "ray":
        env = settings_environment({"QT_TRAINING_BACKEND": "process"})
        env.pop("QT_RAY_ADDRESS", None)
        return RayWorker(name, address=settings.ray_address, env=env)
    return ProcessPool(name, processes)
