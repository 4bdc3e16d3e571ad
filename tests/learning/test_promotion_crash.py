"""A process killed during promotions leaves exactly one PRODUCTION version per line (issue 17).

The child registers and promotes versions of two lines as fast as it can: a new CANDIDATE, then
SHADOW, CANARY, PRODUCTION (retiring the previous production version in the same transaction),
and now and then a rollback. The parent kills it with SIGKILL at a random moment, ten times on
one database, and after each kill reads the registry as a restarted engine would: per line, at
most one version in PRODUCTION, the production pointer naming it, and the audit trail ending in
the stage every version holds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

KEYS = (ModelKey("xgb", "BTCUSDT", 4), ModelKey("lgbm", "ETHUSDT", 4))

CHILD = """
import itertools, sys
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata

engine = open_database(sys.argv[1])
clock = SimulatedClock(0)
registry = ModelRegistry(SqlRegistryRepository(engine), clock)
keys = (ModelKey("xgb", "BTCUSDT", 4), ModelKey("lgbm", "ETHUSDT", 4))
print("ready", flush=True)
for i in itertools.count():
    key = keys[i % 2]
    clock.advance_to(clock.now() + 1)
    meta = ModelMetadata(key.model, f"t{i}", key.scope, key.horizon, ("ret_1",), {}, (0, 1), f"d{i}")
    v = registry.register(meta, f"hash{i}", actor="rule:test", reason="crash test").version
    for stage in (Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION):
        registry.promote(key, v, actor="rule:test", reason="crash test", to=stage)
    if i % 5 == 4:
        registry.rollback(key, actor="rule:test", reason="crash test")
"""


def _check(url: str) -> int:
    """Assert the registry is consistent; return how many versions it holds."""
    engine = open_database(url)
    try:
        registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(0))
        total = 0
        for key in KEYS:
            versions = registry.versions(key)
            total += len(versions)
            in_production = [v.version for v in versions if v.stage is Stage.PRODUCTION]
            assert len(in_production) <= 1, f"{key}: several PRODUCTION versions {in_production}"
            pointer = registry.production(key)
            pointed = [pointer.version] if pointer else []
            assert pointed == in_production, f"{key}: pointer {pointed}, stages {in_production}"

            last_stage: dict[int, Stage] = {}
            for change in registry.history(key):
                last_stage[change.version] = change.to_stage
            assert last_stage == {v.version: v.stage for v in versions}, key
        return total
    finally:
        engine.dispose()


def test_sigkill_during_promotions_leaves_one_production_version_per_line(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    rng = random.Random(17)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    grown = []
    for _ in range(10):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, env=env, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        grown.append(_check(url))
    # the kills landed while it was promoting: the registry grew between them
    assert grown[-1] > grown[0] > 0
