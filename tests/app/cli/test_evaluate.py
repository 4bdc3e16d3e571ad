"""``evaluate`` through Typer on one symbol with tiny folds: all four members in one table."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.evaluate import app

runner = CliRunner()


@pytest.mark.data
def test_evaluate_reports_forecasters_beside_tabular_and_baselines(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    args = ["--symbols", "ETHUSDT", "--train-days", "60", "--test-days", "3", "--folds", "1"]
    args += ["--forecast-epochs", "1", "--data-dir", str(data_dir)]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines()]
    table = {(c[0], c[1]): c for c in cells if len(c) == 12}
    for name in ("xgb", "lgbm", "nhits", "patchtst", "majority", "persistence", "prior"):
        for symbol in ("ETHUSDT", "ALL"):
            assert table[(symbol, name)][3] == "72"  # 3 test days of 1h rows, the same for all
    for name in ("nhits", "patchtst"):
        assert table[("ETHUSDT", name)][2] == "model" and table[("ETHUSDT", name)][5] != "—"
    # the calibrated members next to their uncalibrated selves: log-loss, Brier, ECE
    # (60 days: 288 held-out rows, enough to calibrate on)
    for name in ("xgb", "lgbm", "nhits", "patchtst"):
        calibrated, raw = table[("ETHUSDT", name)], table[("ETHUSDT", f"{name} uncalibrated")]
        assert raw[2] == "model" and raw[3] == "72"
        assert all(cell != "—" for cell in (*calibrated[5:8], *raw[5:8]))
        assert calibrated[5:8] != raw[5:8]


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--models", "xgb,lstm", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "lstm" in result.output
