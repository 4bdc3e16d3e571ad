"""Bad configuration through the console script: one line naming the setting, non-zero exit.

Each case runs the real entry point (``main``, the error boundary included), not Typer's test
runner, so that what an operator sees is what is checked: no traceback, one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from quantum_trader.app.cli.main import main


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    """Run ``quantum-trader *argv``: its exit code and everything it printed."""
    monkeypatch.setattr(sys, "argv", ["quantum-trader", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


@pytest.fixture(autouse=True)
def home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def assert_one_line_naming(code: int, out: str, *words: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    for word in words:
        assert word in lines[0], out


NONSENSE: list[tuple[str, str]] = [
    *[("QT_MAKER_FEE", v) for v in ("-0.001", "nan", "inf", "abc", "0.5")],
    *[("QT_TAKER_FEE", v) for v in ("-0.001", "NaN", "-inf", "abc", "2")],
    *[("QT_SLIPPAGE_BPS", v) for v in ("-50", "nan", "inf", "1e6", "abc")],
    *[("QT_DEFAULT_FUNDING_RATE", v) for v in ("nan", "-inf", "1", "abc")],
    *[("QT_INITIAL_BALANCE", v) for v in ("0", "-5", "nan", "inf", "1e20", "abc")],
    *[("QT_LIVE_POLL_SECONDS", v) for v in ("0", "-1", "nan", "inf", "86400")],
    *[("QT_REPLAY_DAYS", v) for v in ("0", "-3", "1.5", "100000", "abc")],
    *[("QT_TRAIN_DAYS", v) for v in ("0", "10", "1000000", "nan")],
    *[("QT_LABEL_HORIZON", v) for v in ("0", "-1", "1000000", "inf")],
    *[("QT_SEED", v) for v in ("-1", str(2**40), "abc")],
]


@pytest.mark.parametrize(("variable", "value"), NONSENSE)
def test_a_nonsense_number_names_the_variable_and_the_accepted_range(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out = cli(monkeypatch, capsys, "config", "show")
    assert_one_line_naming(code, out, f"{variable}={value!r}", "accepted: ")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("QT_SYMBOLS", "BTCUSDT,ETHUSDT,BTCUSDT", "repeats BTCUSDT"),
        ("QT_SYMBOLS", "", "QT_SYMBOLS is empty"),
        ("QT_SYMBOLS", " , ", "QT_SYMBOLS is empty"),
        ("QT_SYMBOLS", '["BTCUSDT"', "QT_SYMBOLS: not a JSON list"),
        ("AI_ENGINE_MIN_CONSENSUS", "0", "AI_ENGINE_MIN_CONSENSUS=0"),
        ("AI_ENGINE_MIN_CONSENSUS", "abc", "AI_ENGINE_MIN_CONSENSUS"),
        ("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lstm"]', "unknown model(s) ['lstm']"),
        ("QT_TIMEFRAME", "7m", "QT_TIMEFRAME: unknown timeframe"),
        ("QT_LOG_LEVEL", "LOUD", "QT_LOG_LEVEL: Input should be 'DEBUG'"),
        ("QT_SELECTOR", "nope", "QT_SELECTOR"),
        ("ENABLE_DRIFT_DETECTION", "maybe", "ENABLE_DRIFT_DETECTION"),
        ("QT_RETRAIN_CHECK_MINUTES", "abc", "QT_RETRAIN_CHECK_MINUTES"),
    ],
)
def test_other_nonsense_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    words: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out = cli(monkeypatch, capsys, "config", "show")
    assert_one_line_naming(code, out, words)


def test_a_malformed_toml_file_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "qt.toml"
    path.write_text("seed = = 3\n")
    monkeypatch.setenv("QT_CONFIG_FILE", str(path))
    code, out = cli(monkeypatch, capsys, "config", "show")
    assert_one_line_naming(code, out, f"QT_CONFIG_FILE={path}: not valid TOML")


def test_an_unwritable_home_is_one_line_naming_qt_home(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A home under a plain file: unwritable even for root (who ignores permission bits)."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("QT_HOME", str(tmp_path / "file" / "home"))
    for command in (["status"], ["run", "--synthetic"], ["risk", "kill-switch", "status"]):
        code, out = cli(monkeypatch, capsys, *command)
        assert_one_line_naming(code, out, "QT_HOME: cannot ", str(tmp_path / "file" / "home"))


def test_an_unwritable_store_dir_is_refused_before_the_run_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("QT_STORE_DIR", str(tmp_path / "file" / "store"))
    code, out = cli(monkeypatch, capsys, "run", "--synthetic")
    assert_one_line_naming(code, out, "QT_STORE_DIR: cannot write")


@pytest.mark.parametrize(
    "url",
    ["postgresql://trader:hunter2@127.0.0.1:1/qt", "nonsense", "mysql://db/qt"],
)
def test_an_unreachable_database_is_one_line_naming_qt_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """Port 1 refuses at once: no PostgreSQL listens there."""
    monkeypatch.setenv("QT_DATABASE_URL", url)
    for command in (["status"], ["run", "--synthetic"], ["risk", "kill-switch", "status"]):
        code, out = cli(monkeypatch, capsys, *command)
        assert_one_line_naming(code, out, "QT_DATABASE_URL: ")
        assert "hunter2" not in out
