"""Who a command acts as, and why: what the audit trails (registry, kill switch, trading state,
experiments) record of an operator's command."""

from __future__ import annotations

import getpass

import typer


def actor_name(actor: str | None) -> str:
    """``actor`` or ``cli:<user>``."""
    return actor or f"cli:{getpass.getuser()}"


def audited_reason(reason: str, why: str) -> str:
    """``reason`` for the audit trail; a blank one is refused (``why``: what it must say)."""
    if not reason.strip():
        raise typer.BadParameter(why, param_hint="--reason")
    return reason
