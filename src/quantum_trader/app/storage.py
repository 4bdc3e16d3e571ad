"""Opening the configured database, with the failures an operator can fix as one line.

An unwritable ``QT_HOME`` or an unreachable ``QT_DATABASE_URL`` would otherwise surface as a
long SQLAlchemy or OS traceback from deep inside the migration; here they become a
:class:`ConfigError` that names the setting, which the CLI prints as one line.

The kill switch uses :func:`kill_switch_database` so that it needs only the database: an
operator must be able to stop trading while any unrelated setting is invalid.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.config.redaction import redact_url
from quantum_trader.config.settings import Settings, StorageSettings, load_storage_settings
from quantum_trader.domain.errors import ConfigError


def open_settings_database(settings: StorageSettings) -> Engine:
    """The database that ``settings`` (QT_HOME or QT_DATABASE_URL) point at, migrated."""
    return open_checked_database(settings.effective_database_url, setting=settings.database_setting)


def kill_switch_database(db: str | None) -> Engine:
    """The database for the kill switch: ``--db`` when given, else QT_DATABASE_URL or QT_HOME,
    read without building (and so without validating) the other settings."""
    if db:
        return open_checked_database(db, setting="--db")
    try:
        storage = load_storage_settings()
    except ConfigError as exc:
        raise ConfigError(f"{exc} (give the database with --db URL instead)") from None
    return open_settings_database(storage)


def preflight(settings: Settings) -> None:
    """Before a run shows progress: the folders it writes and its database, each failure one
    line naming the setting (not a traceback from deep in the first write)."""
    check_writable_folders(settings)
    check_data_dir(settings)
    open_settings_database(settings).dispose()


def check_data_dir(settings: Settings) -> None:
    """A ``QT_DATA_DIR`` that is not a folder is a mistyped path: say so, instead of the
    generic "no market data" help after the run has started."""
    folder = settings.data_dir
    if folder is not None and not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise ConfigError(
            f"QT_DATA_DIR={folder}: {what}; point it at a folder holding ohlcv/SYMBOL-TF.parquet "
            "(like ../shared/data) or unset it"
        )


def check_writable_folders(settings: Settings) -> None:
    """Fail at start, naming the setting, when a folder a run writes cannot be written: the
    home, the candle store and the artifacts (else the first write fails mid-run)."""
    folders = [
        ("QT_HOME", settings.home),
        ("QT_STORE_DIR" if settings.store_dir else "QT_HOME", settings.effective_store_dir),
        (
            "QT_ARTIFACTS_DIR" if settings.artifacts_dir else "QT_HOME",
            settings.effective_artifacts_dir,
        ),
    ]
    for setting, folder in folders:
        _check_writable(setting, folder)


def _check_writable(setting: str, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"{setting}: cannot write {folder} ({reason}); point it at a writable folder"
        ) from None


def open_checked_database(url: str, *, setting: str) -> Engine:
    """:func:`open_database`, its operator-fixable failures as a ConfigError naming ``setting``."""
    shown = redact_url(url)
    try:
        return open_database(url)
    except OSError as exc:  # the SQLite file's folder cannot be created
        reason = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        raise ConfigError(
            f"{setting}: cannot create the database at {shown} ({reason}); "
            "point it at a writable place"
        ) from None
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(f"{setting}: cannot open the database {shown} ({reason})") from None
    except CommandError as exc:  # alembic: a revision this code does not have
        raise ConfigError(
            f"{setting}: the database {shown} cannot be migrated ({exc}): a newer version of "
            "Quantum Trader wrote it; run that version, or restore a backup"
        ) from None
    except DatabaseError as exc:  # SQLite: a damaged file, or one that is no database
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(
            f"{setting}: the database {shown} cannot be read ({reason}): a damaged or foreign "
            "file; restore it from a backup, or move it away to start a new one"
        ) from None
    except ArgumentError as exc:
        raise ConfigError(
            f"{setting}: not a database URL: {shown} ({exc}); accepted: "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None
    except ImportError as exc:  # a dialect whose driver is not installed (mysql://, …)
        raise ConfigError(
            f"{setting}: no driver for {shown} ({exc}); use sqlite:/// or postgresql://"
        ) from None
