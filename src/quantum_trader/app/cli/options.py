"""Checks of option values that several commands share (typer callbacks)."""

from __future__ import annotations

import typer

#: what a Redis key prefix may not hold: the bus's and the candle stream's keys are
#: ``PREFIX:…``, and ``dead-letters`` finds its streams with the pattern ``PREFIX:dead:*``
_NOT_IN_A_PREFIX = "*?[]\\"


def key_prefix(prefix: str) -> str:
    """``--stream-prefix`` / ``--prefix``: not empty, no spaces, no pattern characters."""
    if not prefix or any(c.isspace() or c in _NOT_IN_A_PREFIX for c in prefix):
        raise typer.BadParameter(f"{prefix!r}: give one without spaces or * ? [ ] \\ (e.g. qt)")
    return prefix
