"""Registry: stages, audit trail, lineage, production pointer, restart, tampered artifacts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables_registry import model_versions
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import ArtifactIntegrityError, InvalidTransitionError
from quantum_trader.features.dataset import Dataset
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import Action, ModelKey, ModelRegistry, Stage
from quantum_trader.learning.serving import load_member, load_members
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.ensemble import DisabledMember, TabularMember
from quantum_trader.models.tabular import XgbModel
from quantum_trader.status.registry import ModuleState, StatusRegistry
from tests.models.conftest import FAST

KEY = ModelKey("xgb", "BTCUSDT", 4)


def _meta(tag: str) -> ModelMetadata:
    return ModelMetadata("xgb", tag, "BTCUSDT", 4, ("ret_1",), {"eta": 0.05}, (0, 1), "d" + tag)


def _registry(engine: Engine, clock: SimulatedClock) -> ModelRegistry:
    return ModelRegistry(SqlRegistryRepository(engine), clock)


def test_stages_audit_and_rollback(db_engine: Engine) -> None:
    clock = SimulatedClock(100)
    registry = _registry(db_engine, clock)
    v1 = registry.register(_meta("a"), "h1", actor="trainer", reason="nightly")
    v2 = registry.register(_meta("b"), "h2", actor="trainer", reason="nightly")
    assert (v1.version, v2.version, v1.stage) == (1, 2, Stage.CANDIDATE)
    for stage in (Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION):
        clock.advance_to(clock.now() + 10)
        assert registry.promote(KEY, 1, actor="rule:shadow", reason="beats prod").stage is stage
    with pytest.raises(InvalidTransitionError, match="no next stage"):
        registry.promote(KEY, 1, actor="x", reason="y")
    registry.promote(KEY, 2, actor="alice", reason="hotfix", to=Stage.PRODUCTION)
    assert registry.get(KEY, 1).stage is Stage.RETIRED
    assert registry.production(KEY) == registry.get(KEY, 2)
    with pytest.raises(InvalidTransitionError, match="moves backwards"):
        registry.promote(KEY, 2, actor="x", reason="y", to=Stage.SHADOW)

    restored = registry.rollback(KEY, actor="bob", reason="live hit rate fell")
    assert restored.version == 1 and restored.stage is Stage.PRODUCTION
    assert registry.get(KEY, 2).stage is Stage.RETIRED
    with pytest.raises(InvalidTransitionError, match="no earlier production"):
        registry.rollback(KEY, actor="bob", reason="again")

    trail = registry.history(KEY)
    assert [(c.version, c.to_stage, c.action) for c in trail][-3:] == [
        (2, Stage.PRODUCTION, Action.PROMOTE),
        (2, Stage.RETIRED, Action.ROLLBACK),
        (1, Stage.PRODUCTION, Action.ROLLBACK),
    ]
    assert trail[0].actor == "trainer" and trail[0].from_stage is None
    assert any(c.action is Action.REPLACED and c.version == 1 for c in trail)
    assert trail[-1].reason == "live hit rate fell" and trail[-1].actor == "bob"
    assert registry.get(KEY, 1).metadata == _meta("a")


def test_rollback_walks_back_through_replaced_versions(db_engine: Engine) -> None:
    registry = _registry(db_engine, SimulatedClock(0))
    for tag in "abc":
        v = registry.register(_meta(tag), "h" + tag, actor="t", reason="r")
        registry.promote(KEY, v.version, actor="t", reason="r", to=Stage.PRODUCTION)
    assert registry.rollback(KEY, actor="t", reason="r").version == 2
    assert registry.rollback(KEY, actor="t", reason="r").version == 1
    registry.retire(KEY, 1, actor="t", reason="all bad")
    assert registry.production(KEY) is None


def test_registry_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qt.sqlite'}"
    engine = open_database(url)
    registry = _registry(engine, SimulatedClock(5))
    registry.register(_meta("a"), "h1", actor="t", reason="r")
    registry.promote(KEY, 1, actor="t", reason="go", to=Stage.PRODUCTION)
    engine.dispose()

    again = _registry(open_database(url), SimulatedClock(6))
    current = again.production(KEY)
    assert current is not None and current.version == 1 and current.artifact_hash == "h1"
    assert [c.reason for c in again.history(KEY)] == ["r", "go"]


def test_tampered_artifact_disables_the_member(
    tmp_path: Path, btc_small: Dataset, sqlite_engine: Engine
) -> None:
    model = XgbModel(scope="BTCUSDT", horizon=4, features=btc_small.names, params=FAST)
    model.fit(btc_small.x, btc_small.y)
    store = LocalArtifactStore(tmp_path / "artifacts")
    digest = store.put(model.save)
    assert store.put(model.save) == digest  # same content, same address
    registry = _registry(sqlite_engine, SimulatedClock(0))
    registry.register(model.metadata, digest, actor="t", reason="r")
    registry.promote(KEY, 1, actor="t", reason="r", to=Stage.PRODUCTION)
    status = StatusRegistry(SimulatedClock(0))
    handle = status.register("xgb", enabled=True, reason="configured")

    loaded = load_member("xgb", KEY, registry, store, handle)
    assert isinstance(loaded.member, TabularMember) and str(loaded.id) == "xgb v1"
    assert load_member("xgb", KEY, registry, store, stage=Stage.SHADOW).version is None

    (store.path(digest) / "metadata.json").write_text("{}")
    with pytest.raises(ArtifactIntegrityError, match="was altered"):
        store.open(digest)
    loaded = load_member("xgb", KEY, registry, store, handle)
    assert isinstance(loaded.member, DisabledMember) and loaded.version is None
    assert handle.status.state is ModuleState.DISABLED
    assert "is invalid" in handle.status.reason and "altered" in handle.status.reason

    members = load_members(["xgb", "lgbm", "nhits"], "BTCUSDT", 4, registry, store)
    reasons = {m.member.name: getattr(m.member, "reason", "") for m in members}
    assert "no PRODUCTION version" in reasons["lgbm"]
    assert "no loader" in reasons["nhits"]  # the default loaders need no label definition


def test_a_refused_production_artifact_is_served_by_the_previous_production_version(
    tmp_path: Path, btc_small: Dataset, sqlite_engine: Engine
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    registry = _registry(sqlite_engine, SimulatedClock(0))
    digests = []
    for rounds in (10, 11, 12, 13):  # four models, four different artifacts
        model = XgbModel(scope="BTCUSDT", horizon=4, features=btc_small.names,
                         params={"num_boost_round": rounds})  # fmt: skip
        model.fit(btc_small.x, btc_small.y)
        digests.append(store.put(model.save))
        meta = model.metadata if rounds < 13 else replace(model.metadata, label="barrier:h4")
        registry.register(meta, digests[-1], actor="t", reason="r")
    for version in (1, 2, 3):
        registry.promote(KEY, version, actor="t", reason="r", to=Stage.PRODUCTION)
    status = StatusRegistry(SimulatedClock(0))
    handle = status.register("xgb", enabled=True, reason="configured")
    assert load_member("xgb", KEY, registry, store, handle).version == 3

    def tamper(n: int) -> None:
        (store.path(digests[n - 1]) / "metadata.json").write_text("{}")

    tamper(3)
    loaded = load_member("xgb", KEY, registry, store, handle)
    assert (loaded.version, loaded.refused, loaded.fallback) == (2, 3, True)
    assert isinstance(loaded.member, TabularMember) and "altered" in loaded.refusal
    tamper(2)  # the one before is damaged too: further back
    assert load_member("xgb", KEY, registry, store, handle).version == 1
    assert load_member("xgb", KEY, registry, store, stage=Stage.SHADOW).refused is None
    # a rolled-back version is not restorable: it never serves in place of another
    registry.rollback(KEY, actor="t", reason="r")  # v3 retired, v2 back in production
    tamper_free = load_member("xgb", KEY, registry, store, handle)
    assert (tamper_free.version, tamper_free.refused) == (1, 2)
    # a production version trained on another label: none before it reads the same
    registry.promote(KEY, 4, actor="t", reason="r", to=Stage.PRODUCTION)
    tamper(4)
    loaded = load_member("xgb", KEY, registry, store, handle)
    assert isinstance(loaded.member, DisabledMember) and (loaded.version, loaded.refused) == (
        None,
        4,
    )
    assert handle.status.state is ModuleState.DISABLED


def test_members_load_by_stage(tmp_path: Path, btc_small: Dataset, sqlite_engine: Engine) -> None:
    model = XgbModel(scope="BTCUSDT", horizon=4, features=btc_small.names, params=FAST)
    model.fit(btc_small.x, btc_small.y)
    store = LocalArtifactStore(tmp_path / "artifacts")
    digest = store.put(model.save)
    registry = _registry(sqlite_engine, SimulatedClock(0))
    for _ in range(3):
        registry.register(model.metadata, digest, actor="t", reason="r")
    registry.promote(KEY, 1, actor="t", reason="r", to=Stage.PRODUCTION)
    registry.promote(KEY, 2, actor="t", reason="r", to=Stage.SHADOW)
    registry.promote(KEY, 3, actor="t", reason="r", to=Stage.SHADOW)
    assert load_member("xgb", KEY, registry, store).version == 1
    assert load_member("xgb", KEY, registry, store, stage=Stage.SHADOW).version == 3  # newest
    assert load_member("xgb", KEY, registry, store, stage=Stage.CANARY).version is None


def test_generic_lineage_fits_a_policy_and_reads_rows_written_before_it(
    db_engine: Engine,
) -> None:
    registry = _registry(db_engine, SimulatedClock(9))
    policy = Lineage(
        POLICY_KIND, "ppo-sizer", "BTCUSDT", 1, (0, 3_600_000), "data", {"gamma": 0.99},
        {"episode_return": 1.5}, 5, {"observation": ["regime", "drawdown"]},
    )  # fmt: skip
    v = registry.register(policy, "p" * 64, actor="rl:daemon", reason="trained")
    registry.promote(v.key, v.version, actor="t", reason="r", to=Stage.PRODUCTION)
    stored = registry.get(ModelKey("ppo-sizer", "BTCUSDT", 1), 1)
    assert stored.lineage == policy and stored.stage is Stage.PRODUCTION
    with pytest.raises(TypeError, match="'policy' has no model metadata"):
        _ = stored.metadata
    legacy = _meta("old")  # a row as written before lineage: the ModelMetadata's own JSON
    with db_engine.begin() as conn:
        conn.execute(
            insert(model_versions).values(
                model="xgb", scope="BTCUSDT", horizon=4, version=7, stage="RETIRED",
                artifact_hash="h7", metadata_json=legacy.to_json(), created_at=1,
            )
        )  # fmt: skip
    old = registry.get(KEY, 7)
    assert old.metadata == legacy and old.lineage == Lineage.of_model(legacy)
    assert old.lineage.window == (0, 1) and old.lineage.parameters == {"eta": 0.05}


def test_changes_after_a_cursor_are_every_lines_changes_in_order(db_engine: Engine) -> None:
    registry = _registry(db_engine, SimulatedClock(0))
    assert registry.changes_after(0) == []
    registry.register(_meta("a"), "h1", actor="t", reason="r")
    (first,) = registry.changes_after(0)
    registry.promote(KEY, 1, actor="alice", reason="go", to=Stage.PRODUCTION)
    other = ModelMetadata("lgbm", "b", "ETHUSDT", 4)
    registry.register(other, "h2", actor="t", reason="r")
    later = registry.changes_after(first[0])
    assert [(c.key.model, c.to_stage, c.actor) for _, c in later] == [
        ("xgb", Stage.PRODUCTION, "alice"),
        ("lgbm", Stage.CANDIDATE, "t"),
    ]
    assert [p for p, _ in later] == sorted(p for p, _ in later) and later[0][0] > first[0]
    assert registry.changes_after(later[-1][0]) == []
