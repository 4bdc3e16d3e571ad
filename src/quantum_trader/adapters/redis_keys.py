"""The key prefix under which the bus and the candle stream keep their Redis keys.

Every key is ``PREFIX:…``: ``PREFIX:TOPIC`` (a topic holds no ``:``), ``PREFIX:dead:TOPIC``,
``PREFIX:processed:GROUP:ID``, ``PREFIX:sequence``, ``PREFIX:topics``, and the candle stream's
marks ``PREFIX:market.candle.closed:whole`` and ``…:end-read``; ``dead-letters`` finds its
streams with the pattern ``PREFIX:dead:*``. So a prefix may not

- be empty (``:market.candle.closed`` belongs to nobody), hold a space or a pattern character
  (``* ? [ ] \\``: the pattern would match other prefixes' keys);
- reach into another prefix's keys: namespacing with ``:`` is fine (``qt:prod``), but not an
  empty part, nor a part after the first that is ``dead`` or ``processed`` or holds a ``.`` (a
  topic's shape). ``qt:dead`` would publish TOPIC on ``qt:dead:TOPIC``, the very key of ``qt``'s
  dead letters of TOPIC.

Checked by every class that builds keys from a prefix, not only by the CLI, so that a caller in
code cannot get past it.

>>> key_prefix("qt:prod")
'qt:prod'
>>> key_prefix("qt:dead")
Traceback (most recent call last):
...
ValueError: Redis key prefix 'qt:dead': 'dead' after a colon would share the keys of prefix 'qt'
"""

from __future__ import annotations

_PATTERN = "*?[]\\"
_RESERVED = ("dead", "processed")


def key_prefix(prefix: str) -> str:
    """``prefix`` when it is a usable key prefix; else ``ValueError`` naming it and why."""
    if not prefix or any(c.isspace() or c in _PATTERN for c in prefix):
        raise ValueError(
            f"Redis key prefix {prefix!r}: give one without spaces or * ? [ ] \\ (e.g. qt)"
        )
    parts = prefix.split(":")
    if "" in parts:
        raise ValueError(f"Redis key prefix {prefix!r}: an empty part between colons")
    for at, part in enumerate(parts[1:], start=1):
        if part in _RESERVED or "." in part:
            head = ":".join(parts[:at])
            raise ValueError(
                f"Redis key prefix {prefix!r}: {part!r} after a colon would share the keys of"
                f" prefix {head!r}"
            )
    return prefix
