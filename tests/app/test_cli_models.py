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
