"""``risk kill-switch`` needs only the database: an operator can always stop trading, even while
an unrelated setting is invalid (issue 22, Part A item 1)."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from quantum_trader.adapters.sql import locked
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.cli.main import main
from quantum_trader.clock.clock import WallClock
from quantum_trader.risk.kill_switch import KillSwitch
from tests.sqlite_lock import hold_write_lock


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    """Run ``quantum-trader *argv`` through the console script's error boundary."""
    monkeypatch.setattr(sys, "argv", ["quantum-trader", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


def engaged(url: str) -> bool:
    return KillSwitch(SqlRiskRepository(open_database(url)), WallClock()).state().engaged


@pytest.fixture
def broken_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A home whose other settings are invalid: a fee that is no number, a part not built."""
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_TAKER_FEE", "abc")
    clean_env.setenv("QT_LIVE", "true")
    clean_env.setenv("COLUMNS", "200")
    return f"sqlite:///{tmp_path / 'home' / 'quantum_trader.sqlite'}"


def test_kill_switch_works_while_an_unrelated_setting_is_invalid(
    broken_settings: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(monkeypatch, capsys, "status")
    assert code == 2 and "QT_TAKER_FEE" in out  # the rest of the CLI refuses these settings
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "test")
    assert code == 0, out
    assert engaged(broken_settings)
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "status")
    assert code == 0 and "kill switch ENGAGED" in out and "test" in out, out
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "off", "--reason", "fixed")
    assert code == 0, out
    assert not engaged(broken_settings)


def test_db_option_reaches_the_database_when_the_home_cannot(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file").write_text("")
    clean_env.setenv("QT_HOME", str(tmp_path / "file" / "home"))  # under a file: unusable
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "test")
    assert code == 2 and "QT_HOME: cannot create the database" in out
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "x", "--db", url)
    assert code == 0, out
    assert engaged(url)


def test_a_malformed_config_file_points_at_the_db_option(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Where the home itself cannot be read, the one line says how to stop trading anyway."""
    path = tmp_path / "qt.toml"
    path.write_text("home = \n")
    clean_env.setenv("QT_CONFIG_FILE", str(path))
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "test")
    assert code == 2 and "not valid TOML" in out and "--db URL" in out
    assert len(out.strip().splitlines()) == 1


def _damaged(home: Path, how: str) -> bytes:
    """The home's database made unreadable: not a database at all, or pages overwritten."""
    db = home / "quantum_trader.sqlite"
    if how == "not a database":
        home.mkdir(parents=True)
        db.write_bytes(b"a text file where the database should be\n")
    else:
        engine = open_database(f"sqlite:///{db}")  # the schema, migrated
        engine.dispose()
        with closing(sqlite3.connect(db)) as conn:  # everything into the file, none in its WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = bytearray(db.read_bytes())
        assert len(raw) > 4096 * 6
        raw[4096 : 4096 * 6] = b"\xab" * (4096 * 5)  # the schema's pages, past the header
        db.write_bytes(bytes(raw))
    return db.read_bytes()


@pytest.mark.parametrize("how", ["not a database", "malformed pages"])
def test_a_damaged_database_is_one_line_and_left_as_it_was(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    """``status`` and ``risk kill-switch`` ended in SQLAlchemy's traceback (``file is not a
    database``, ``database disk image is malformed``)."""
    home = tmp_path / "home"
    clean_env.setenv("QT_HOME", str(home))
    before = _damaged(home, how)
    reason = "file is not a database" if how == "not a database" else "malformed"
    for argv in (("status",), ("risk", "kill-switch", "on", "--reason", "stop")):
        code, out = cli(monkeypatch, capsys, *argv)
        assert code == 2, out
        assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
        assert "QT_HOME: the database sqlite:///" in out and "cannot be read (" in out, out
        assert reason in out and "restore it from a backup" in out, out
    assert (home / "quantum_trader.sqlite").read_bytes() == before


def test_the_switch_waits_for_a_writer_that_holds_the_database_past_the_busy_timeout(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``kill-switch on`` gave up after SQLite's 5 s busy timeout with a traceback ("database
    is locked"), the switch not engaged, while another process held the write lock for 7 s."""
    clean_env.setenv("QT_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}"
    open_database(url).dispose()
    holder = hold_write_lock(tmp_path / "quantum_trader.sqlite", 7.0)
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "stop")
    holder.join()
    assert code == 0, out
    assert "locked by another writer: waiting up to 60 s" in out and "ENGAGED" in out
    assert engaged(url)


def test_a_switch_the_database_never_lets_write_says_so_in_one_line(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}"
    open_database(url).dispose()
    monkeypatch.setattr(locked, "LOCKED_WAIT_S", 1.0)
    holder = hold_write_lock(tmp_path / "quantum_trader.sqlite", 8.0)
    code, out = cli(monkeypatch, capsys, "risk", "kill-switch", "on", "--reason", "stop")
    holder.join()
    assert code == 2, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: the kill switch is NOT engaged: the database stayed locked")
    assert "Traceback" not in out and not engaged(url)


def test_a_database_of_a_newer_version_is_one_line_and_left_as_it_was(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database migrated by a newer Quantum Trader (a revision this code lacks) ended in
    alembic's traceback ("Can't locate revision")."""
    db = tmp_path / "quantum_trader.sqlite"
    clean_env.setenv("QT_HOME", str(tmp_path))
    open_database(f"sqlite:///{db}").dispose()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'runs_0099' "
                     "WHERE version_num LIKE 'runs_%'")  # fmt: skip
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()
    for argv in (("status",), ("risk", "kill-switch", "on", "--reason", "stop")):
        code, out = cli(monkeypatch, capsys, *argv)
        assert code == 2 and len(out.strip().splitlines()) == 1, out
        assert "cannot be migrated (Can't locate revision identified by 'runs_0099')" in out
        assert "a newer version of Quantum Trader wrote it" in out
    assert db.read_bytes() == before
