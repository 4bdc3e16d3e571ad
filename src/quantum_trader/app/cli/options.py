"""Checks of option values that several commands share: typer callbacks, and checks that raise
``ConfigError`` (one line, exit 2) before a command's work starts."""

from __future__ import annotations

from pathlib import Path

import typer

from quantum_trader.adapters import redis_keys
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.run_ids import checked_run_id
from quantum_trader.domain.time import timeframe_ms


def key_prefix(prefix: str) -> str:
    """``--stream-prefix`` / ``--prefix``: a Redis key prefix the adapters take
    (``adapters/redis_keys.py``: not empty, no spaces or pattern characters, not reaching into
    another prefix's keys)."""
    try:
        return redis_keys.key_prefix(prefix)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def redis_url_or_setting(given: str | None) -> str | None:
    """``--redis-url`` when given, else ``QT_REDIS_URL`` (environment or ``QT_CONFIG_FILE``);
    None when neither is. The settings are loaded only when the option is not given, so an
    operator's explicit URL needs no other setting to be valid."""
    if given:
        return given
    from quantum_trader.config.settings import load_settings

    return load_settings().redis_url


def run_id_option(run_id: str) -> str:
    """``--run-id``: empty (the command's own), or one that can name the run's folder."""
    if not run_id:
        return run_id
    try:
        return checked_run_id(run_id)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def known_timeframe(timeframe: str) -> str:
    """``--timeframe`` when it is one the candle store knows; else ConfigError naming it."""
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise ConfigError(f"--timeframe: {exc}") from None
    return timeframe


def made_folder(path: Path, option: str) -> Path:
    """``path``, made now, so that one that cannot be made fails before the work, not after it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create it ({exc.strerror})") from None
    return path
