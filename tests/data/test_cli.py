from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.cli.data import DataCliDeps, app
from quantum_trader.app.cli.main import app as cli
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt
from tests.data.fakes import HOUR, RecordedExchange, candles, recorded

runner = CliRunner()


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    out = frame.rename(columns={"open_time": "timestamp"})
    out["timestamp"] = pd.to_datetime(out["timestamp"], unit="ms", utc=True)
    out.to_csv(path, index=False)
    return path


def test_import_list_validate(tmp_path: Path) -> None:
    store = tmp_path / "store"
    csv = write_csv(tmp_path / "ETHUSDT-1h.csv", candles(30).drop(index=[7]))
    result = runner.invoke(app, ["import", str(csv), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "ETHUSDT" in result.output and "1 missing candle" in result.output
    listing = runner.invoke(app, ["list", "--store", str(store)])
    assert listing.exit_code == 0 and "29" in listing.output and "ETHUSDT" in listing.output
    check = runner.invoke(app, ["validate", "ETHUSDT", "1h", "--store", str(store)])
    assert check.exit_code == 0, check.output
    assert "warnings" in check.output and fmt(int(candles(30).open_time[7])) in check.output


def test_import_of_a_bad_file_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    bad = candles(10)
    bad.loc[2, "close"] = np.nan
    csv = write_csv(tmp_path / "BTCUSDT-1h.csv", bad)
    result = runner.invoke(app, ["import", str(csv), "--store", str(store)])
    assert result.exit_code == 1
    assert "nan: 1" in result.output
    # the row's details are printed verbatim (not eaten as console markup)
    assert "(row 2)]" in result.output
    assert not store.exists()


def test_an_out_of_order_file_is_refused_with_its_rows_printed_verbatim(tmp_path: Path) -> None:
    bad = candles(10).iloc[[0, 1, 3, 2, 4, 5, 6, 7, 8, 9]]
    csv = write_csv(tmp_path / "BTCUSDT-1h.csv", bad)
    result = runner.invoke(app, ["import", str(csv), "--store", str(tmp_path / "store")])
    assert result.exit_code == 1
    # "[row 3 … comes after …]" is the error's text, not console markup to swallow
    assert "[row 3 " in result.output and "comes after" in result.output, result.output


def test_validate_exits_non_zero_on_a_corrupt_stored_file(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("BTCUSDT", "1h", candles(10))
    path = store.ohlcv_path("BTCUSDT", "1h")
    frame = pd.read_parquet(path)
    pd.concat([frame, frame.iloc[[4]]]).to_parquet(path, index=False)
    result = runner.invoke(app, ["validate", "--all", "--store", str(tmp_path)])
    assert result.exit_code == 1
    assert "ERRORS" in result.output and "duplicate_rows: 1" in result.output
    assert runner.invoke(app, ["validate", "--store", str(tmp_path)]).exit_code == 1


def test_download_through_an_injected_exchange(tmp_path: Path) -> None:
    data = recorded()
    last = int(data["ohlcv"][-1][0])
    exchange = RecordedExchange(data["ohlcv"], data["funding"], last + HOUR // 2)
    deps = DataCliDeps(exchange=lambda: exchange, clock=SimulatedClock(last + HOUR // 2))
    since = fmt(int(data["funding"][0]["timestamp"]))
    result = runner.invoke(
        app,
        ["download", "--symbols", "BTCUSDT", "--since", since, "--store", str(tmp_path)],
        obj=deps,
    )
    assert result.exit_code == 0, result.output
    store = CandleStore(tmp_path)
    assert len(store.load("BTCUSDT", "1h")) == 59
    assert len(store.load_funding("BTCUSDT")) == 12


def test_synthetic_command_writes_labelled_series(tmp_path: Path) -> None:
    args = ["synthetic", "--symbols", "BTCUSDT,SOLUSDT", "--candles", "200", "--seed", "4"]
    result = runner.invoke(app, [*args, "--store", str(tmp_path)])
    assert result.exit_code == 0, result.output
    entries = CandleStore(tmp_path).list()
    assert [(e.symbol, e.rows, e.synthetic) for e in entries] == [
        ("SYNBTCUSDT", 200, True),
        ("SYNSOLUSDT", 200, True),
    ]
    assert "SYNTHETIC" in runner.invoke(app, ["list", "--store", str(tmp_path)]).output


def test_synthetic_refuses_bad_options_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    cases = {
        ("--candles", "-5"): "candles=-5 must be >= 1",
        ("--timeframe", "7x"): "unknown timeframe '7x'",
        ("--symbols", ""): "give at least one symbol name",
    }
    for option, message in cases.items():
        result = runner.invoke(cli, ["data", "synthetic", *option, "--store", str(tmp_path)])
        assert isinstance(result.exception, ConfigError), (option, result.output)
        assert f"data synthetic: {message}" in str(result.exception)
        assert not any(tmp_path.rglob("*.parquet")), option


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["validate", "BTCUSDT", "7x"], "unknown timeframe '7x'"),
        (["import", "good.csv", "--symbol", "BTCUSDT", "--timeframe", "7x"], "unknown timeframe"),
        (["download", "--symbols", "BTCUSDT", "--timeframe", "7x"], "unknown timeframe '7x'"),
        (["download", "--symbols", ""], "--symbols: give at least one symbol"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)
def test_a_bad_argument_is_one_line_and_nothing_is_written(
    args: list[str], says: str, tmp_path: Path
) -> None:
    """Each was a traceback from deep in the store (the download ran with no symbol)."""
    write_csv(tmp_path / "good.csv", candles(3))
    store = tmp_path / "store"
    exchange = RecordedExchange([], [], 0)
    deps = DataCliDeps(exchange=lambda: exchange, clock=SimulatedClock(0))
    args = [str(tmp_path / a) if a == "good.csv" else a for a in args]
    result = runner.invoke(app, [*args, "--store", str(store)], obj=deps)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {says}" in result.output
    assert not store.exists()


def test_a_store_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    write_csv(tmp_path / "BTCUSDT-1h.csv", candles(3))
    (tmp_path / "a-file").write_text("not a folder")
    store = tmp_path / "a-file" / "store"
    cases = {  # import makes the store at its first write (a refused file leaves no folder)
        ("import", str(tmp_path / "BTCUSDT-1h.csv")): f"error: {store / 'ohlcv'}: Not a directory",
        ("synthetic", "--candles", "10"): f"error: store {store}: cannot create it (Not a",
    }
    for args, says in cases.items():
        result = runner.invoke(app, [*args, "--store", str(store)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert says in result.output


def test_a_missing_file_is_said_to_be_missing_whatever_its_name(tmp_path: Path) -> None:
    """``data import /nowhere.csv`` said it could not tell the symbol from the name."""
    for name in ("nowhere.csv", "BTCUSDT-1h.csv"):
        missing = tmp_path / name
        result = runner.invoke(app, ["import", str(missing), "--store", str(tmp_path / "s")])
        assert result.exit_code == 1 and f"{missing}: no such file" in result.output, result.output
        assert not (tmp_path / "s" / "ohlcv").exists()
