"""The models and evaluate sub-apps, run through Typer on a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.cli.models import app
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.models.base import ModelMetadata


def test_list_show_promote_rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    engine = open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}")
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(0))
    for tag in "ab":
        meta = ModelMetadata("lgbm", tag, "ETHUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
        registry.register(meta, "f" * 64, actor="test", reason="seed")
    runner = CliRunner()
    for args in (
        ["promote", "lgbm/ETHUSDT/h4", "1", "--to", "PRODUCTION", "--reason", "first"],
        ["promote", "lgbm/ETHUSDT/h4", "2", "--to", "PRODUCTION", "--reason", "second"],
        ["rollback", "lgbm/ETHUSDT/h4", "--reason", "second was worse", "--by", "carol"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "production is v1 again" in result.output
    listing = runner.invoke(app, ["list"], terminal_width=200)
    assert listing.exit_code == 0 and "PRODUCTION" in listing.output and "RETIRED" in listing.output
    shown = runner.invoke(app, ["show", "lgbm/ETHUSDT/h4", "2"], terminal_width=200)
    assert "second was worse" in shown.output and "carol" in shown.output
    bad = runner.invoke(app, ["promote", "lgbm/ETHUSDT/h4", "2", "--reason", "x"])
    assert bad.exit_code != 0 and "RETIRED" in str(bad.exception)


def test_list_and_show_verify_each_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantum_trader.adapters.artifacts import LocalArtifactStore

    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    engine = open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}")
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(0))
    store = LocalArtifactStore(tmp_path / "artifacts")
    digests = [
        store.put(lambda d, n=n: (d / "model.bin").write_bytes(bytes([n]) * 64)) for n in (1, 2)
    ]
    (store.path(digests[1]) / "model.bin").write_bytes(b"\xff" * 64)  # tampered
    for tag, digest in (("ok", digests[0]), ("bad", digests[1]), ("gone", "e" * 64)):
        meta = ModelMetadata("xgb", tag, "BTCUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
        registry.register(meta, digest, actor="test", reason="seed")
    runner = CliRunner()
    listing = runner.invoke(app, ["list"], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    rows = [line for line in listing.output.splitlines() if "xgb/BTCUSDT/h4" in line]
    assert [r.split("│")[7].strip() for r in rows] == ["OK", "TAMPERED", "MISSING"]
    for version, word in ((1, "OK"), (2, "TAMPERED"), (3, "MISSING")):
        shown = runner.invoke(app, ["show", "xgb/BTCUSDT/h4", str(version)], terminal_width=200)
        assert shown.exit_code == 0 and word in shown.output.splitlines()[1], shown.output


def test_history_shows_engine_time_wall_time_and_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    engine = open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}")
    wall = 1_796_000_000_000  # 2026-11-30T...: when the row was stored
    repository = SqlRegistryRepository(engine, wall=lambda: wall)
    registry = ModelRegistry(repository, SimulatedClock(1_718_114_400_000))  # a replayed candle
    meta = ModelMetadata("xgb", "a", "BTCUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
    registry.register(meta, "f" * 64, actor="engine:abc123", reason="bootstrap training")
    shown = CliRunner().invoke(app, ["history", "xgb/BTCUSDT/h4"], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if "engine:abc123" in line)
    assert "2024-06-11T14:00:00Z" in row and "2026-11-30T" in row


def test_list_and_show_read_policy_versions_beside_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After any run with the agents on, the registry holds policy lines (ppo_selector,
    rl_sizer) beside the models: ``list`` and ``show`` failed with a traceback on them ("a
    'policy' has no model metadata")."""
    from quantum_trader.learning.lineage import POLICY_KIND, Lineage

    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    engine = open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}")
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(0))
    meta = ModelMetadata("lgbm", "a", "ETHUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
    registry.register(meta, "f" * 64, actor="test", reason="seed")
    policy = Lineage(
        POLICY_KIND, "ppo_selector", "global", 0, window=(0, 7_200_000),
        parameters={"seed": 7}, trained_at=10_800_000, detail={"algorithm": "PPO"},
    )  # fmt: skip
    registry.register(policy, "e" * 64, actor="test", reason="trained")
    runner = CliRunner()
    listing = runner.invoke(app, ["list"], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    assert "ppo_selector/global/h0" in listing.output and "lgbm/ETHUSDT/h4" in listing.output
    assert "1970-01-01 → 1970-01-01" in listing.output
    shown = runner.invoke(app, ["show", "ppo_selector/global/h0", "1"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "(policy)" in shown.output and '"algorithm": "PPO"' in shown.output
    assert "trained at 1970-01-01T03:00:00" in shown.output
    model = runner.invoke(app, ["show", "lgbm/ETHUSDT/h4", "1"], terminal_width=200)
    assert model.exit_code == 0 and "features (1): ret_1" in model.output


@pytest.mark.parametrize(
    "args",
    [
        ["list", "xgb"],
        ["show", "xgb", "1"],
        ["history", "xgb"],
        ["promote", "xgb", "1", "--reason", "x"],
        ["rollback", "xgb", "--reason", "x"],
    ],
    ids=lambda a: a[0],
)
def test_a_malformed_model_key_is_one_line_naming_the_form(
    args: list[str], tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    from quantum_trader.domain.errors import ConfigError

    clean_env.setenv("QT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), repr(result.exception)
    assert (
        str(result.exception) == "model key 'xgb': want MODEL/SCOPE/hHORIZON, e.g. xgb/BTCUSDT/h4"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["show", "xgb/BTCUSDT/h4", "99"],
        ["promote", "xgb/BTCUSDT/h4", "99", "--reason", "try"],
    ],
)
def test_a_version_the_registry_does_not_hold_is_one_line(
    args: list[str], tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """It ended in a ``KeyError`` traceback (exit 1)."""
    from quantum_trader.domain.errors import QuantumTraderError

    clean_env.setenv("QT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, QuantumTraderError), repr(result.exception)
    assert str(result.exception) == "xgb/BTCUSDT/h4 has no version 99"
    assert isinstance(result.exception, KeyError)  # what the API's routes catch
