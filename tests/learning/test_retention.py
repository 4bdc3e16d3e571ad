"""Artifact retention: what may serve again keeps its artifacts, what never can lets them go;
``models prune`` removes exactly those, refused while an engine runs, and so does a run when it
ends (``QT_PRUNE_ARTIFACTS``, on by default)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.run_lock import EngineAlreadyRunning
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.run_lock import run_lock_of
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.positions import Trade
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage, left_serving
from quantum_trader.learning.retention import prune, retention
from quantum_trader.models.base import ModelMetadata

XGB = ModelKey("xgb", "SOLUSDT", 4)  # a line the synthetic runs below do not trade
PPO = ModelKey("ppo-selector", "BTCUSDT", 1)


def _meta(tag: str) -> ModelMetadata:
    return ModelMetadata("xgb", tag, "SOLUSDT", 4, ("ret_1",), {"eta": 0.05}, (0, 1), "d" + tag)


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
    tmp_path: Path, clean_env: pytest.MonkeyPatch, clock: SimulatedClock | None = None
) -> tuple[ModelRegistry, LocalArtifactStore]:
    clean_env.setenv("QT_HOME", str(tmp_path))
    settings = load_settings()
    registry = ModelRegistry(
        SqlRegistryRepository(open_settings_database(settings)), clock or SimulatedClock(0)
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


def test_a_version_counts_as_unneeded_from_when_it_could_no_longer_serve(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """A run's own prune (``settled_before``: its oldest training in flight was prepared then)
    keeps what served until then: that training may still read it."""
    clock = SimulatedClock(0)
    registry, store = _world(tmp_path, clean_env, clock)
    d = {n: store.put(lambda f, n=n: (f / "blob").write_text(n)) for n in ("v1", "v2", "v3")}
    for t, name in ((10, "v1"), (20, "v2"), (30, "v3")):
        clock.advance_to(t)
        v = registry.register(_meta(name), d[name], actor="t", reason="r")
        registry.promote(XGB, v.version, actor="t", reason="r", to=Stage.PRODUCTION)
    clock.advance_to(40)
    registry.rollback(XGB, actor="t", reason="v3 lost")  # v3 off the stack at 40
    clock.advance_to(50)
    registry.rollback(XGB, actor="t", reason="v2 lost")  # v2 at 50; v1 serves
    assert left_serving(registry.history(XGB)) == {3: 40, 2: 50}

    def unneeded(settled_before: int | None) -> set[str]:
        plan = retention(registry.versions(), registry.history, settled_before=settled_before)
        return {name for name, digest in d.items() if digest in plan.unneeded}

    assert unneeded(None) == unneeded(51) == {"v2", "v3"}
    assert unneeded(50) == unneeded(41) == {"v3"}  # v2 served until 50
    assert unneeded(40) == unneeded(0) == set()


def test_a_folder_a_training_in_flight_stored_again_stays(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """A replay of the same window on the same home trains the same weights again: a training
    in flight (handed to its worker at ``handed``) stores the very bytes of a version the gate
    retired, and registers them only when it lands. A run's own prune in between keeps them."""
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    plan = retention(registry.versions(), registry.history)
    for name in ("v3", "v4"):
        then = time.time() - 3600  # stored by an earlier run
        os.utime(store.path(d[name]), (then, then))
    handed = time.time() - 60
    # the training in flight writes v4's content again (its worker, after it was handed)
    assert store.put(lambda folder: (folder / "blob").write_text("v4" * 1000)) == d["v4"]
    pruned = prune(plan, store, keep_if_touched_after=handed)
    assert not store.exists(d["v3"]) and store.exists(d["v4"])
    assert pruned.artifacts == 1 and set(pruned.lines) == {"xgb/SOLUSDT/h4"}
    store.open(d["v4"])  # intact, for the version that will name it when it lands


def test_prune_removes_exactly_the_unneeded_and_keeps_the_registry(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    versions = registry.versions()
    runner = CliRunner()

    dry = runner.invoke(app, ["models", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would remove" in dry.output and "xgb/SOLUSDT/h4" in dry.output
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

    listing = runner.invoke(app, ["models", "list", "xgb/SOLUSDT/h4"], env={"COLUMNS": "200"})
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


def test_a_dry_run_counts_what_a_real_one_removes(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    registry, store = _world(tmp_path, clean_env)
    d = _fill(registry, store)
    plan = retention(registry.versions(), registry.history)
    dry = prune(plan, store, dry_run=True)
    assert all(store.exists(digest) for digest in d.values())
    done = prune(plan, store)
    assert (dry.artifacts, dry.freed, dry.lines) == (done.artifacts, done.freed, done.lines)
    assert done.artifacts == 2 and done.lines == {"xgb/SOLUSDT/h4": [2, done.freed]}
    assert done.freed == 2 * 2 * 1000  # two blobs of "v3" * 1000 and "v4" * 1000
    assert set(done.kept) == {d[n] for n in ("v1", "v2", "v5", "p1", "p2", "s1", "s2")}
    assert prune(plan, store).artifacts == 0  # gone already: nothing counted twice


def _pruning_run(
    clean_env: pytest.MonkeyPatch, enabled: bool, run_id: str = "pruning-run"
) -> RunResult:
    for name, value in (("QT_OFFLINE", "true"), ("QT_TRAIN_DAYS", "30"), ("QT_REPLAY_DAYS", "3"),
                        ("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]'),
                        ("QT_PRUNE_ARTIFACTS", str(enabled).lower())):  # fmt: skip
        clean_env.setenv(name, value)
    return run_main_job(load_settings(), synthetic=True, run_id=run_id)


def _book(trades: Sequence[Trade]) -> list[tuple[object, ...]]:
    return [(t.symbol, t.side, t.entry_time, t.exit_time, t.quantity, t.pnl) for t in trades]


def test_a_run_prunes_daily_and_when_it_ends_unless_told_not_to_and_trades_the_same(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """The main job removes what can never serve again once a day while it runs and as it
    stops (the history above, on a line it does not trade, goes at its first daily prune),
    holding its engine lock; QT_PRUNE_ARTIFACTS=false keeps all. Its trades are the same, and
    so are those of the same replay run again on the pruned home, whose trainings store the
    very bytes of versions the first run retired while its daily prunes remove them."""
    trades = {}
    for enabled in (True, False):
        registry, store = _world(tmp_path / str(enabled), clean_env)
        d = _fill(registry, store)
        result = _pruning_run(clean_env, enabled)
        assert result.session is not None
        trades[enabled] = (result.session.trades, result.session.fills)
        gone = {name for name, digest in d.items() if not store.exists(digest)}
        assert gone == ({"v3", "v4"} if enabled else set())
        # and the candidates the run's own retraining stored and its gate retired (a lineage
        # also names hashes that are no artifact, e.g. of its data: only versions' own were
        # stored)
        plan = retention(registry.versions(), registry.history)
        stored = {d for d, vs in plan.unneeded.items() if any(v.artifact_hash == d for v in vs)}
        own = {d for d in stored if plan.unneeded[d][0].key.scope != "SOLUSDT"}
        assert own, "the run retired none of its candidates: nothing of its own to prune"
        assert [store.exists(digest) for digest in own] == [not enabled] * len(own)
        snapshot = {s.name: s.counters for s in result.runtime.status.snapshot()}
        counters = snapshot["model_registry"]
        assert counters.get("artifacts_pruned", 0) == (len(stored) if enabled else 0)
        assert (counters.get("artifact_bytes_pruned", 0) > 4000) is enabled
        # v3 and v4 could not serve before the run began: its first daily prune took them
        assert (counters.get("artifacts_pruned_in_run", 0) >= 2) is enabled
        # what the run itself trained and serves is still there and verifies
        for version in registry.versions():
            if version.key.scope != "SOLUSDT" and version.stage is Stage.PRODUCTION:
                store.open(version.artifact_hash)
    assert trades[True] == trades[False]
    assert trades[True][0], "no trade: nothing to compare"

    registry, store = _world(tmp_path / "True", clean_env)
    again = _pruning_run(clean_env, True, run_id="pruning-run-again")
    assert again.session is not None  # it ran to its end (a missing artifact raises)
    # the same trades (their ids name the run)
    assert _book(again.session.trades) == _book(trades[True][0])
    for version in registry.versions():  # everything that may serve still verifies
        if version.stage is not Stage.RETIRED:
            store.open(version.artifact_hash)
