"""Artifact retention: what may serve again keeps its artifacts, what never can lets them go;
and ``models prune`` removes exactly those, refused while an engine runs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.run_lock import EngineAlreadyRunning
from quantum_trader.app.cli.main import app
from quantum_trader.app.run_lock import run_lock_of
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import load_settings
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.retention import retention
from quantum_trader.models.base import ModelMetadata

XGB = ModelKey("xgb", "BTCUSDT", 4)
PPO = ModelKey("ppo-selector", "BTCUSDT", 1)


def _meta(tag: str) -> ModelMetadata:
    return ModelMetadata("xgb", tag, "BTCUSDT", 4, ("ret_1",), {"eta": 0.05}, (0, 1), "d" + tag)


def _policy(state_digest: str) -> Lineage:
    return Lineage(POLICY_KIND, PPO.model, PPO.scope, PPO.horizon, (0, 3_600_000), "data",
                   detail={"state_digest": state_digest})  # fmt: skip


def _fill(registry: ModelRegistry, store: LocalArtifactStore) -> dict[str, str]:
    """A history with every way a version ends: digests by role."""

    def stored(text: str) -> str:
        return store.put(lambda folder: (folder / "blob").write_text(text * 1000))

    d = {name: stored(name) for name in ("v1", "v2", "v3", "v4", "v5", "s1", "s2", "p1", "p2")}
    put = registry.register
    for name in ("v1", "v2", "v3"):  # each promoted in turn: v1, v2 REPLACED, v3 production
        v = put(_meta(name), d[name], actor="t", reason="r")
        registry.promote(XGB, v.version, actor="t", reason="r", to=Stage.PRODUCTION)
    registry.rollback(XGB, actor="t", reason="v3 lost")  # v3 rolled back: off the stack
    v4 = put(_meta("v4"), d["v4"], actor="t", reason="r")
    registry.retire(XGB, v4.version, actor="rule:gate", reason="no better than production")
    put(_meta("v5"), d["v5"], actor="t", reason="r")  # a CANDIDATE
    # a retired policy and a shadow policy; the retired one's bundle is also the shadow's
    # content (same bytes, one folder), its state its own
    old = put(_policy(d["s1"]), d["p1"], actor="t", reason="r")
    registry.retire(PPO, old.version, actor="rule:gate", reason="worse than the rules")
    new = put(_policy(d["s2"]), d["p1"], actor="t", reason="r")
    registry.promote(PPO, new.version, actor="t", reason="r", to=Stage.SHADOW)
    put(_policy(d["s1"]), d["p2"], actor="t", reason="r")  # a candidate naming the old state
    return d


def _world(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> tuple[ModelRegistry, LocalArtifactStore]:
    clean_env.setenv("QT_HOME", str(tmp_path))
    settings = load_settings()
    registry = ModelRegistry(
        SqlRegistryRepository(open_settings_database(settings)), SimulatedClock(0)
    )
    return registry, LocalArtifactStore(settings.effective_artifacts_dir)


def test_only_what_can_never_serve_again_is_unneeded(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    plan = retention(registry.versions(), registry.history)
    # v3 (rolled back) and v4 (retired by the gate) can never serve: rollback walks only the
    # stack (v1 ← v2), and RETIRED is left only by rollback
    assert set(plan.unneeded) == {d["v3"], d["v4"]}
    assert {v.version for v in plan.unneeded[d["v3"]]} == {3}
    # production (v2), its rollback target (v1), the candidate, the shadow policy's bundle
    # (shared with the retired policy) and both states (s1: a candidate names it) stay
    assert {d[n] for n in ("v1", "v2", "v5", "p1", "p2", "s1", "s2")} <= plan.needed
    assert not plan.needed & set(plan.unneeded)


def test_prune_removes_exactly_the_unneeded_and_keeps_the_registry(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    versions = registry.versions()
    runner = CliRunner()

    dry = runner.invoke(app, ["models", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would remove" in dry.output and "xgb/BTCUSDT/h4" in dry.output
    assert all(store.exists(digest) for digest in d.values())

    done = runner.invoke(app, ["models", "prune"])
    assert done.exit_code == 0, done.output
    gone = {name for name, digest in d.items() if not store.exists(digest)}
    assert gone == {"v3", "v4"}
    assert not list(store.root.glob(".incoming-*"))  # nothing half-deleted left behind
    for name in set(d) - gone:  # what stays still verifies
        store.open(d[name])
    assert registry.versions() == versions  # rows, stages and lineage untouched
    assert registry.rollback(XGB, actor="t", reason="r").version == 1  # the target loads
    store.open(registry.production(XGB).artifact_hash)  # type: ignore[union-attr]

    listing = runner.invoke(app, ["models", "list", "xgb/BTCUSDT/h4"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0, listing.output
    assert listing.output.count("REMOVED") == 2 and "MISSING" not in listing.output
    again = runner.invoke(app, ["models", "prune"])
    assert again.exit_code == 0 and "freed 0.0 MiB" in again.output


def test_prune_is_refused_while_an_engine_runs(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    lock = run_lock_of(open_settings_database(load_settings()))
    lock.acquire("20261207T000000-engine", os.getpid(), socket.gethostname())  # alive: us
    result = CliRunner().invoke(app, ["models", "prune"])
    # the console script prints such an error in one line with exit code 2 (cli/main.py)
    assert isinstance(result.exception, EngineAlreadyRunning)
    assert "another engine is running" in str(result.exception)
    assert all(store.exists(digest) for digest in d.values())
