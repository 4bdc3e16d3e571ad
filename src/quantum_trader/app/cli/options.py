"""Checks of option values that several commands share: typer callbacks, and checks that raise
``ConfigError`` (one line, exit 2) before a command's work starts."""

from __future__ import annotations

from pathlib import Path

import typer

from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import timeframe_ms

#: what a Redis key prefix may not hold: the bus's and the candle stream's keys are
#: ``PREFIX:…``, and ``dead-letters`` finds its streams with the pattern ``PREFIX:dead:*``
_NOT_IN_A_PREFIX = "*?[]\\"


def key_prefix(prefix: str) -> str:
    """``--stream-prefix`` / ``--prefix``: not empty, no spaces, no pattern characters."""
    if not prefix or any(c.isspace() or c in _NOT_IN_A_PREFIX for c in prefix):
        raise typer.BadParameter(f"{prefix!r}: give one without spaces or * ? [ ] \\ (e.g. qt)")
    return prefix


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
