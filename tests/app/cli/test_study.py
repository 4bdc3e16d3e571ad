"""``quantum-trader study`` on real data with two tiny candidates, the example candidates file,
and ``evaluate --system --baselines``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.evaluate import app as evaluate_app
from quantum_trader.app.cli.evaluate_system import baseline_variants, evaluate_system
from quantum_trader.app.cli.main import app
from quantum_trader.app.cli.study import STUDY_DECIDES
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.evaluation.folds import BASELINES
from quantum_trader.evaluation.study import load_candidates

REPO_ROOT = Path(__file__).resolve().parents[3]
#: the learning loop off, as in studies/edge.toml: the members train once per fold (what the
#: study does with a candidate is the test, not continuous learning, which costs minutes here)
TWO = """
[[candidate]]
name = "gate-off"
[candidate.settings]
ensemble_models = ["xgb", "lgbm"]
entry_cost_gate = false
continuous_learning_enabled = false
shadow_trading = false

[[candidate]]
name = "gate-off-h6"
[candidate.settings]
ensemble_models = ["xgb", "lgbm"]
entry_cost_gate = false
continuous_learning_enabled = false
shadow_trading = false
label_horizon = 6
"""


def test_baselines_are_all_none_or_named() -> None:
    assert baseline_variants("all") == BASELINES
    assert baseline_variants("none") == ()
    chosen = baseline_variants("neutral,buy_and_hold,neutral")
    assert [v.name for v in chosen] == ["buy_and_hold", "neutral"]
    with pytest.raises(ConfigError, match=r"unknown baseline.*hodl.*buy_and_hold, neutral"):
        baseline_variants("hodl,neutral")


def test_an_unknown_baseline_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    args = ["--system", "--baselines", "neutral,hodl", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(evaluate_app, args, terminal_width=200)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "hodl" in text and "only_TrendFollowing" in text and "random_selector" in text


def test_settings_the_evaluation_decides_cannot_be_overridden(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"setting home: each fold has its own home.*train_days"):
        evaluate_system(
            Console(),
            symbols=None,
            start=None,
            end=None,
            folds=1,
            train_days=30,
            window="sliding",
            embargo_hours=0,
            models=None,
            data_dir=tmp_path,
            settings_overrides={"train_days": 3, "home": tmp_path},
        )


def test_the_example_study_names_only_settings_that_load(clean_env: pytest.MonkeyPatch) -> None:
    path = REPO_ROOT / "studies" / "edge.toml"
    candidates = load_candidates(path, settings=set(Settings.model_fields), refused=STUDY_DECIDES)
    assert [c.name for c in candidates] == [
        "base-sign-h4",
        "extended-sign-h4",
        "base-barrier-h24",
        "extended-barrier-h24",
        "extended-sign-h24",
        "extended-barrier-h12-3x2",
        "base-sign-h4-primary",
        "extended-sign-h4-primary",
        "extended-barrier-h24-primary",
        "extended-barrier-h24-4x4",
        "base-sign-h4-universe8",
        "extended-barrier-h24-universe8",
        "universe-sign-h4-universe8",
        "universe-barrier-h24-universe8",
    ]
    for candidate in candidates:
        settings = load_settings(**candidate.overrides)
        assert settings.ensemble_models == ["xgb", "lgbm"], candidate.name
        assert settings.entry_rule == ("primary" if "primary" in candidate.name else "signal")
        assert not (settings.continuous_learning_enabled or settings.shadow_trading)
        assert len(settings.symbols) == (8 if "universe8" in candidate.name else 2)
        assert (settings.features == "universe") == candidate.name.startswith("universe-")
    h12 = load_settings(**candidates[5].overrides)
    assert (h12.features, h12.label, h12.label_horizon) == ("extended", "barrier", 12)
    assert (h12.barrier_upper, h12.barrier_lower) == (3.0, 2.0)


def test_a_candidate_whose_setting_does_not_load_is_refused_before_any_runs(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    path = tmp_path / "bad.toml"
    path.write_text("[[candidate]]\nname = 'x'\n[candidate.settings]\nlabel = 'sideways'\n")
    result = CliRunner().invoke(app, ["study", str(path), "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith(f"{path}: candidate 'x': invalid configuration")
    assert not (tmp_path / "home" / "evaluations").exists()


@pytest.mark.slow
def test_a_study_walks_each_candidate_forward_and_judges_them_together(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    path = tmp_path / "two.toml"
    path.write_text(TWO)
    out = tmp_path / "out"
    args = ["study", str(path), "--symbols", "BTCUSDT", "--start", "2023-03-01"]
    args += ["--end", "2023-03-05", "--folds", "2", "--train-days", "45"]
    args += ["--data-dir", str(data_dir), "--out", str(out)]
    result = CliRunner().invoke(app, args, terminal_width=220)
    assert result.exit_code == 0, result.output
    assert "candidate 1/2: gate-off" in result.output and "PBO " in result.output

    payload = json.loads((out / "study.json").read_text())
    assert list(payload["candidates"]) == ["gate-off", "gate-off-h6"]
    for name, figures in payload["candidates"].items():
        assert figures["trades"] > 0, name
        for key in ("net_return", "sharpe", "max_drawdown", "turnover", "fees", "psr", "dsr"):
            assert isinstance(figures[key], float) and math.isfinite(figures[key]), (name, key)
        assert figures["periods"] == payload["periods"] == 94  # 2 folds of 2 days, chained
        assert figures["models"] == ["xgb", "lgbm"]
    pbo = payload["pbo"]
    assert pbo is not None and 0.0 <= pbo["pbo"] <= 1.0 and pbo["blocks"] == 2
    assert payload["trials"] >= 1
    markdown = (out / "study.md").read_text()
    assert "| gate-off | " in markdown and "| gate-off-h6 | " in markdown

    ledger = SqlTrialLedger(open_database(load_settings().effective_database_url))
    studied = {t.name: t for t in ledger.trials() if t.name.startswith("study:")}
    assert set(studied) == {"study:gate-off", "study:gate-off-h6"}
    assert all(t.kind == "evaluate" for t in studied.values())
    assert studied["study:gate-off"].config_hash != studied["study:gate-off-h6"].config_hash
    assert not [t for t in ledger.trials() if t.name.startswith("baseline:")]  # system only

    # the candidate's settings reached every fold's run: its models learned 6-candle labels
    for fold in ("fold-1", "fold-2"):
        home = Path(payload["candidates"]["gate-off-h6"]["folder"]) / fold
        db = open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}")
        horizons = {v.key.horizon for v in SqlRegistryRepository(db).versions()}
        db.dispose()
        assert horizons == {6}, fold


def test_the_second_study_names_only_settings_that_load(clean_env: pytest.MonkeyPatch) -> None:
    path = REPO_ROOT / "studies" / "edge2.toml"
    candidates = load_candidates(path, settings=set(Settings.model_fields), refused=STUDY_DECIDES)
    assert len(candidates) == 6
    for candidate in candidates:
        settings = load_settings(**candidate.overrides)
        assert settings.ensemble_models == ["xgb", "lgbm"], candidate.name
        assert not (settings.continuous_learning_enabled or settings.shadow_trading)
        cross = candidate.name.startswith("xs-")
        assert (settings.selector == "fixed:CrossSectional") is cross, candidate.name
        assert settings.bet_sizing is candidate.name.endswith("-bet"), candidate.name
        assert (len(settings.symbols) == 8) is cross, candidate.name


def test_the_third_study_names_only_settings_that_load(clean_env: pytest.MonkeyPatch) -> None:
    path = REPO_ROOT / "studies" / "edge3.toml"
    candidates = load_candidates(path, settings=set(Settings.model_fields), refused=STUDY_DECIDES)
    names = ["extended-rules-meta", "extended-rules-meta-bet", "extended-rules"]
    assert [c.name for c in candidates] == names
    for candidate in candidates:
        settings = load_settings(**candidate.overrides)
        assert settings.meta_filter is ("meta" in candidate.name)
        assert settings.entry_rule == "primary"
        assert not (settings.entry_cost_gate or settings.rl_agents)
        assert settings.bet_sizing is candidate.name.endswith("-bet")
