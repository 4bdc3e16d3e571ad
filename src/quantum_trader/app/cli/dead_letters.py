"""``quantum-trader dead-letters``: the Redis bus's dead-letter streams (``docs/services.md``).

``list`` the topics that have dead letters, ``show`` a topic's letters (the event, the error,
the group that gave up), ``replay`` them to that group once the cause is fixed, ``drop`` the
ones that should never run, ``trim`` the old ones. The work is in
``adapters/redis_streams/dead_letters.py``; this file parses and prints.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from quantum_trader.app.cli.options import key_prefix, redis_url_or_setting
from quantum_trader.app.cli.render import console
from quantum_trader.app.cli.services import redis_client
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import MS_PER_DAY, fmt

if TYPE_CHECKING:  # redis is imported by the commands that use it only
    from quantum_trader.adapters.redis_streams.dead_letters import DeadLetters

app = typer.Typer(
    help="The Redis bus's dead letters: list, show, replay, drop, trim.", no_args_is_help=True
)

_URL = typer.Option(None, "--redis-url", help="the Redis the bus runs on (default: QT_REDIS_URL)")
_PREFIX = typer.Option(
    "qt", "--prefix", callback=key_prefix, help="the bus's key prefix (PREFIX:dead:TOPIC)"
)
_SOME = typer.Argument(None, help="the letters (ids from `show`)")
_IDS = typer.Argument(..., help="the letters (ids from `show`)")


def _checked(ids: list[str]) -> list[str]:
    """Letter ids as Redis writes them (``MS-SEQ``); anything else refused in one line."""
    bad = [i for i in ids if re.fullmatch(r"\d+-\d+", i) is None]
    if bad:
        raise ConfigError(f"not a letter id (MS-SEQ, as `show` prints them): {', '.join(bad)}")
    return ids


def _letters(redis_url: str | None, prefix: str) -> DeadLetters:
    from quantum_trader.adapters.redis_streams.dead_letters import DeadLetters

    url = redis_url_or_setting(redis_url)
    if url is None:
        raise ConfigError(
            "dead-letters needs --redis-url (or QT_REDIS_URL): the Redis the bus runs on"
        )
    return DeadLetters(redis_client(url), prefix)


@app.command("list")
def list_streams(redis_url: str | None = _URL, prefix: str = _PREFIX) -> None:
    """Every topic with dead letters: how many, the oldest and the newest."""
    streams = _letters(redis_url, prefix).streams()
    if not streams:
        console().print(f"no dead letters under {escape(prefix)}:dead:*")
        return
    table = Table(title=f"Dead letters ({prefix}:dead:*)")
    for column in ("topic", "letters", "oldest", "newest"):
        table.add_column(column, overflow="fold")
    for s in streams:
        oldest = fmt(s.oldest_ms) if s.oldest_ms is not None else "-"
        newest = fmt(s.newest_ms) if s.newest_ms is not None else "-"
        table.add_row(escape(s.topic), str(s.length), oldest, newest)
    console().print(table)


@app.command("show")
def show(
    topic: str = typer.Argument(..., help="the topic, e.g. execution.order.filled"),
    count: int = typer.Option(20, "--count", min=1, help="the oldest COUNT letters"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document, the envelopes included"),
    redis_url: str | None = _URL,
    prefix: str = _PREFIX,
) -> None:
    """A topic's dead letters, oldest first."""
    letters = _letters(redis_url, prefix).letters(topic, count=count)
    if as_json:
        typer.echo(json.dumps([letter.to_dict() for letter in letters], indent=2))
        return
    if not letters:
        console().print(f"no dead letters for {escape(topic)}")
        return
    table = Table(title=f"Dead letters of {escape(topic)}")
    for column in ("letter", "dead at", "event", "group", "consumer", "deliveries", "error"):
        table.add_column(column, overflow="fold")
    for d in letters:
        event = d.event.id if d.event is not None else "[red]not an envelope[/]"
        table.add_row(
            d.id, fmt(d.dead_at_ms), event, escape(d.group), escape(d.consumer),
            str(d.deliveries), escape(d.error),
        )  # fmt: skip
    console().print(table)


@app.command("replay")
def replay(
    topic: str = typer.Argument(..., help="the topic whose letters go back"),
    ids: list[str] | None = _SOME,
    every: bool = typer.Option(False, "--all", help="every letter of the topic"),
    group: str | None = typer.Option(None, "--group", help="only the letters of this group"),
    redis_url: str | None = _URL,
    prefix: str = _PREFIX,
) -> None:
    """Put letters back on their topic's stream for the group that gave up on each (the
    other groups skip them). Exit 1 if any stayed or was gone."""
    if bool(ids) == every:
        raise ConfigError("replay: name the letters (ids from `show`) or give --all, not both")
    report = _letters(redis_url, prefix).replay(topic, ids=_checked(ids or []), group=group)
    out = console()
    for letter_id, new_id in report.replayed.items():
        stream = escape(f"{prefix}:{topic}")
        out.print(f"replayed {letter_id} as {stream} {new_id}", highlight=False)
    for letter_id, why in report.refused.items():
        out.print(f"[red]kept[/] {letter_id}: {escape(why)}", highlight=False)
    for letter_id in report.gone:
        out.print(f"[red]gone[/] {letter_id}: not a letter of {escape(topic)} (any more)")
    out.print(
        f"{len(report.replayed)} replayed, {len(report.refused)} kept, {len(report.gone)} gone"
    )
    if report.refused or report.gone:
        raise typer.Exit(1)


@app.command("drop")
def drop(
    topic: str = typer.Argument(..., help="the topic"),
    ids: list[str] = _IDS,
    redis_url: str | None = _URL,
    prefix: str = _PREFIX,
) -> None:
    """Delete letters that should never run. Exit 1 if some were not there."""
    dropped = _letters(redis_url, prefix).drop(topic, _checked(ids))
    console().print(f"dropped {dropped} of {len(ids)}")
    if dropped != len(ids):
        raise typer.Exit(1)


@app.command("trim")
def trim(
    topic: str = typer.Argument(..., help="the topic"),
    older_than_days: float = typer.Option(
        ..., "--older-than-days", min=0.0, help="delete letters older than this (Redis's clock)"
    ),
    redis_url: str | None = _URL,
    prefix: str = _PREFIX,
) -> None:
    """Delete a topic's letters older than the given age."""
    removed = _letters(redis_url, prefix).trim(
        topic, older_than_ms=round(older_than_days * MS_PER_DAY)
    )
    console().print(f"trimmed {removed} letters of {escape(topic)}")
