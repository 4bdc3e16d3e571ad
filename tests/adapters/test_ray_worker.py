"""The Ray training backend beyond the worker contract (``tests/clock/test_worker_contract.py``):
what its tasks see, how it fails, who stops Ray, how settings choose it, and that the main
job's training jobs train through it what they train in worker processes.

One local Ray serves the module (``ray_session``); the tests of who starts and stops Ray use a
stand-in for the ``ray`` module instead of starting more.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quantum_trader.adapters.ray_worker import RayWorker, _LocalRay, import_ray
from quantum_trader.app.system_evaluation import EngineFoldRunner
from quantum_trader.app.training_backend import fold_worker, training_worker
from quantum_trader.clock import ProcessWorker, WorkerError
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import MS_PER_DAY, from_datetime
from quantum_trader.evaluation.fold_pool import ProcessPool
from quantum_trader.evaluation.folds import SYSTEM, plan_folds
from tests.clock.worker_tasks import sleep_for, slow_sum


def environment_of(names: tuple[str, ...]) -> dict[str, str | None]:
    """The variables a task sees (module level: a Ray worker imports it by name)."""
    return {name: os.environ.get(name) for name in names}


def priority(_: None) -> tuple[int, bool]:
    return os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0) == os.SCHED_IDLE


def die(_: None) -> None:
    os._exit(3)  # a crash in native code, an out-of-memory kill: the process is gone


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = import_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def worker(ray_session: None) -> Iterator[RayWorker]:
    w = RayWorker("ray-test", env={"QT_SEED": "11"})
    w.start()
    yield w
    w.shutdown()


def test_a_task_sees_the_drivers_settings_and_yields_the_cpu(worker: RayWorker) -> None:
    seen = worker.submit(environment_of, ("QT_SEED", "OMP_NUM_THREADS")).result(timeout=60)
    assert seen == {"QT_SEED": "11", "OMP_NUM_THREADS": "1"}  # one CPU per task: one thread
    assert worker.submit(priority, None).result(timeout=60) == (19, True)


def test_a_worker_process_that_died_fails_its_computation_and_the_next_one_runs(
    worker: RayWorker,
) -> None:
    with pytest.raises(WorkerError, match="ray-test"):
        worker.submit(die, None).result(timeout=120)
    assert worker.submit(slow_sum, (1.0, 2.0)).result(timeout=60) == 3.0


def test_inputs_that_cannot_travel_fail_that_computation_only(worker: RayWorker) -> None:
    future = worker.submit(slow_sum, (lambda: 1.0,))  # type: ignore[arg-type]
    with pytest.raises(WorkerError):
        future.result(timeout=60)
    assert worker.submit(slow_sum, (2.0,)).result(timeout=60) == 2.0


def test_cancelling_a_future_cancels_its_task(worker: RayWorker) -> None:
    futures = [worker.submit(sleep_for, 30.0) for _ in range(3)]
    started = time.monotonic()
    for future in futures:
        assert future.cancel()
    assert all(f.cancelled() for f in futures)
    # the CPUs are free again at once: the next task does not wait for the cancelled ones
    assert worker.submit(slow_sum, (4.0,)).result(timeout=20) == 4.0
    assert time.monotonic() - started < 20


def test_a_worker_that_joined_a_running_ray_leaves_it_running(worker: RayWorker) -> None:
    ray = import_ray()
    other = RayWorker("other")
    other.start()
    other.shutdown()
    assert ray.is_initialized()
    assert worker.submit(slow_sum, (5.0,)).result(timeout=60) == 5.0


class FakeRay:
    """The part of the ``ray`` module that starting and stopping a local Ray uses."""

    def __init__(self, running: bool = False) -> None:
        self.running = running
        self.inits: list[dict[str, object]] = []
        self.shutdowns = 0

    def is_initialized(self) -> bool:
        return self.running

    def init(self, **kwargs: object) -> None:
        self.inits.append(kwargs)
        self.running = True

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.running = False


def test_the_first_worker_starts_ray_and_the_last_one_to_leave_stops_it() -> None:
    ray, local = FakeRay(), _LocalRay()
    assert local.join(ray, None, 2) and local.join(ray, None, 2)
    assert ray.inits == [{"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}]
    local.leave(ray)
    assert ray.running and ray.shutdowns == 0
    local.leave(ray)
    assert not ray.running and ray.shutdowns == 1


def test_a_cluster_address_is_joined_and_a_running_ray_is_not_ours() -> None:
    ray, local = FakeRay(), _LocalRay()
    assert local.join(ray, "ray://head:10001", None)
    assert ray.inits == [{"address": "ray://head:10001", "log_to_driver": False}]
    theirs = FakeRay(running=True)
    assert not _LocalRay().join(theirs, None, None)
    assert theirs.inits == []


def test_without_ray_the_backend_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray now fails
    with pytest.raises(ImportError, match=r"pip install '\.\[ray\]'"):
        import_ray()
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("QT_TRAINING_BACKEND", "ray")
    with pytest.raises(ConfigError, match=r"QT_TRAINING_BACKEND=ray .*pip install '\.\[ray\]'"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"QT_RAY_ADDRESS": "head:6379"}, "QT_TRAINING_BACKEND=process"),
        ({"QT_TRAINING_BACKEND": "ray", "QT_RAY_ADDRESS": "http://head"}, "not a Ray address"),
        ({"QT_TRAINING_BACKEND": "threads"}, "'process' or 'ray'"),
    ],
)
def test_backend_settings_that_cannot_work_are_refused(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], refused: str
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=refused):
        load_settings()


def test_settings_choose_the_backend(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    local = load_settings()
    assert isinstance(training_worker(local, "job"), ProcessWorker)
    pool = fold_worker(local, "folds", processes=3)
    assert isinstance(pool, ProcessPool) and pool.processes == 3
    clean_env.setenv("QT_TRAINING_BACKEND", "ray")
    clean_env.setenv("QT_RAY_ADDRESS", "ray://head:10001")
    clean_env.setenv("QT_SEED", "5")
    remote = load_settings()
    job = training_worker(remote, "job")
    assert isinstance(job, RayWorker) and job.address == "ray://head:10001"
    assert job.env["QT_SEED"] == "5" and job.env["QT_TRAINING_BACKEND"] == "ray"
    folds = fold_worker(remote, "folds")
    assert isinstance(folds, RayWorker) and folds.address == "ray://head:10001"
    # a fold's own training jobs run in processes inside its task, not as nested Ray tasks
    assert folds.env["QT_TRAINING_BACKEND"] == "process" and "QT_RAY_ADDRESS" not in folds.env


@pytest.mark.slow
def test_the_main_jobs_training_jobs_through_ray_train_what_processes_train(
    ray_session: None, clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    """A fold's main job with every training job on: the PPO selector's and the RL sizer's
    first policies (trained before the replay), and continuous learning's retrainings during
    it. Through Ray they train the same versions, bit for bit (content-hashed artifacts), as
    through worker processes."""
    clean_env.setenv("QT_DATA_DIR", str(data_dir))
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_RL_AGENTS", "true")  # clean_env switches them off
    clean_env.setenv("QT_RL_BOOTSTRAP_EPISODES", "2")
    overrides = {"symbols": ["BTCUSDT"], "ensemble_models": ["xgb", "lgbm"], "selector": "ppo"}
    start = from_datetime(datetime(2023, 6, 1, tzinfo=UTC))
    fold = plan_folds(start=start, end=start + 2 * MS_PER_DAY, folds=1, train_days=120)[0]
    outcome = {}
    for backend in ("process", "ray"):
        clean_env.setenv("QT_TRAINING_BACKEND", backend)
        run = EngineFoldRunner(overrides, tmp_path / backend).run(fold, SYSTEM)
        store = tmp_path / backend / "fold-1" / "artifacts"
        artifacts = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
        outcome[backend] = (artifacts, dict(run.retrained_at), dict(run.training_windows))
    assert outcome["ray"] == outcome["process"]
    artifacts, retrained, windows = outcome["ray"]
    assert {"ppo_selector/global/h0@1", "rl_sizer/global/h0@1"} <= set(windows)
    assert retrained, "continuous learning retrained nothing during the fold"
    assert len(artifacts) >= len(windows)
