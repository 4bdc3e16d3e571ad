"""A member disabled by a tampered artifact is logged and shown; a run left with no member able
to place an order ends FAILED with one line, a symbol left without consensus is named, and a
promotion read during the run that cannot be served is logged too (issue 22 Part A item 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.serving_health import check_servable, logging_swap, report_unserved
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import NothingToServeError
from quantum_trader.domain.signals import ModelVote
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.serving import LoadedMember
from quantum_trader.learning.watcher import ProductionWatcher
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.ensemble import Ensemble, EnsembleConfig, VoteContext
from quantum_trader.models.ensemble.member import Abstention, DisabledMember, Member
from quantum_trader.observability.logging import configure_logging
from quantum_trader.status import ModuleState
from quantum_trader.status.registry import StatusRegistry


def _tamper(home: Path, model: str) -> None:
    for folder in (home / "artifacts").iterdir():
        meta = folder / "metadata.json"
        if meta.is_file() and json.loads(meta.read_text()).get("name") == model:
            meta.write_text(meta.read_text() + " ")


def _log(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_tampered_artifacts_are_logged_shown_and_stop_a_run_that_cannot_trade(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    env = {
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "3",
        "QT_TRAIN_DAYS": "60",
        "QT_OFFLINE": "true",
        "QT_LOG_FORMAT": "json",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "AI_ENGINE_MIN_CONSENSUS": "1",
    }
    for key, value in env.items():
        clean_env.setenv(key, value)
    configure_logging(run_id="t", fmt="json")
    run_main_job(load_settings())  # trains xgb and lgbm on both symbols
    _tamper(home, "xgb")
    capsys.readouterr()

    # one member left per symbol: the run trades on, and says what it lost, where and why
    result = run_main_job(load_settings())
    refused = [r for r in _log(capsys.readouterr().err) if r["event"] == "model.artifact_refused"]
    assert {(r["model"], r["symbol"], r["version"]) for r in refused} == {
        ("xgb", "BTCUSDT", 1),
        ("xgb", "ETHUSDT", 1),
    }
    assert all(r["level"] == "error" and "altered" in str(r["reason"]) for r in refused)
    statuses = {s.name: s for s in result.runtime.status.snapshot()}
    xgb = statuses["xgb"]
    assert xgb.state is ModuleState.DISABLED
    assert "BTCUSDT" in xgb.reason and "ETHUSDT" in xgb.reason and "altered" in xgb.reason
    assert statuses["lgbm"].state is ModuleState.ACTIVE
    assert result.summary["decisions"] > 0

    # no member left: the run stops before its replay, FAILED, with one line
    _tamper(home, "lgbm")
    with pytest.raises(NothingToServeError, match="no order can be placed") as err:
        run_main_job(load_settings())
    assert "xgb/BTCUSDT v1 (artifact refused)" in str(err.value)
    assert "lgbm/ETHUSDT v1 (artifact refused)" in str(err.value)

    command = [sys.executable, "-c", "from quantum_trader.app.cli.main import main; main()", "run"]
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no order can be placed" in errors[0], done.stdout
    finished = [r for r in _log(done.stderr) if r["event"] == "run.finish"]
    assert finished and finished[0]["status"] == "FAILED"
    db = result.runtime.db
    with db.connect() as conn:
        statuses_of_runs = [row[0] for row in conn.execute(select(runs.c.status))]
    assert statuses_of_runs.count("FAILED") == 2 and "RUNNING" not in statuses_of_runs


class _Up:
    """A member that always abstains (what it votes does not matter here)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        return Abstention(self.name, "test member")


def _ensemble(usable: tuple[str, ...], off: tuple[str, ...] = ()) -> Ensemble:
    members: list[Member] = [_Up(n) for n in usable] + [DisabledMember(n, "gone") for n in off]
    versions = {n: 1 for n in usable} | {n: None for n in off}
    return Ensemble(EnsembleConfig((*usable, *off), 2), members, versions=versions)


def test_a_symbol_short_of_consensus_is_named_while_the_others_trade(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(run_id="t", fmt="json")
    capsys.readouterr()
    ensembles = {"BTCUSDT": _ensemble(("lgbm",), ("xgb",)), "ETHUSDT": _ensemble(("xgb", "lgbm"))}
    check_servable(ensembles, [])  # ETHUSDT can still trade: no error
    (short,) = _log(capsys.readouterr().err)
    assert short["event"] == "ensemble.short_of_consensus" and short["level"] == "warning"
    assert (short["symbol"], short["usable"], short["needs"]) == ("BTCUSDT", 1, 2)
    assert short["disabled"] == ["xgb"]

    ensembles["ETHUSDT"] = _ensemble(("xgb",), ("lgbm",))
    with pytest.raises(NothingToServeError, match="no order can be placed"):
        check_servable(ensembles, [])


def test_a_promotion_to_a_tampered_artifact_during_a_run_is_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = ModelRegistry(
        SqlRegistryRepository(open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")),
        SimulatedClock(0),
    )
    store = LocalArtifactStore(tmp_path / "artifacts")
    key = ModelKey("xgb", "BTCUSDT", 4)
    digests = []
    for n in (1, 2):
        digest = store.put(lambda d, n=n: (d / "model.bin").write_bytes(bytes([n]) * 64))
        digests.append(digest)
        meta = ModelMetadata("xgb", f"v{n}", "BTCUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
        registry.register(meta, digest, actor="test", reason="seed")
    registry.promote(key, 1, actor="test", reason="first", to=Stage.PRODUCTION)
    ensembles = {"BTCUSDT": _ensemble(("xgb", "lgbm"))}  # serving v1
    watcher = ProductionWatcher(
        registry,
        store,
        ensembles,
        horizon=4,
        loaders={"xgb": lambda folder, handle: _Up("xgb")},
        swap=logging_swap(),
    )
    first = digests[0]
    (store.path(digest) / "model.bin").write_bytes(b"\xff" * 64)  # v2 altered after training
    registry.promote(key, 2, actor="cli:carol", reason="looks better", to=Stage.PRODUCTION)
    configure_logging(run_id="t", fmt="json")
    capsys.readouterr()

    assert watcher.refresh(1) == 1
    lines = _log(capsys.readouterr().err)
    (refused,) = [r for r in lines if r["event"] == "model.artifact_refused"]
    assert (refused["model"], refused["symbol"], refused["version"]) == ("xgb", "BTCUSDT", 2)
    assert refused["level"] == "error" and "altered" in str(refused["reason"])
    assert refused["serving"] == 1  # the previous production version serves in its place
    assert not [r for r in lines if r["event"] == "ensemble.short_of_consensus"]
    assert [str(m) for m in ensembles["BTCUSDT"].member_ids] == ["xgb v1", "lgbm v1"]

    # v1 damaged as well, and a v3 promoted on v2's damaged file: nothing before v3 loads
    (store.path(first) / "model.bin").write_bytes(b"\xfe" * 64)
    meta = ModelMetadata("xgb", "v3", "BTCUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")
    registry.register(meta, digest, actor="test", reason="retrained")
    registry.promote(key, 3, actor="cli:carol", reason="newer", to=Stage.PRODUCTION)
    capsys.readouterr()
    assert watcher.refresh(2) == 1
    lines = _log(capsys.readouterr().err)
    (refused,) = [r for r in lines if r["event"] == "model.artifact_refused"]
    assert refused["version"] == 3 and "serving" not in refused
    (short,) = [r for r in lines if r["event"] == "ensemble.short_of_consensus"]
    assert short["symbol"] == "BTCUSDT" and short["usable"] == 1
    assert [str(m) for m in ensembles["BTCUSDT"].member_ids] == ["xgb", "lgbm v1"]


def test_a_production_version_served_in_place_of_a_refused_one_is_logged_and_degraded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = StatusRegistry(SimulatedClock(0))
    xgb = status.register("xgb", enabled=True, reason="configured")
    loaded = {
        "BTCUSDT": [LoadedMember(_Up("xgb"), 4, refused=5, refusal="artifact of v5 altered")],
        "ETHUSDT": [LoadedMember(_Up("xgb"), 7)],
    }
    configure_logging(run_id="t", fmt="json")
    capsys.readouterr()
    assert report_unserved(loaded, {"xgb": xgb}) == []  # nothing disabled: v4 trades
    (refused,) = _log(capsys.readouterr().err)
    assert refused["event"] == "model.artifact_refused" and refused["level"] == "error"
    assert (refused["symbol"], refused["version"], refused["serving"]) == ("BTCUSDT", 5, 4)
    assert xgb.status.state is ModuleState.DEGRADED
    assert (
        xgb.status.reason
    ) == "BTCUSDT: v5 refused (artifact of v5 altered); previous production v4 serves"
