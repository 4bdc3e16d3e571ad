"""Canonical bytes of plain values, for the run digests (ledger, event log).

``marshal`` format version 2: floats go in as their 8 bytes instead of a decimal ``repr``
(several times cheaper on a replay's thousands of records), and that version has no
back-references, so the bytes depend only on the values and their types, never on which
objects happen to be shared (a resumed run rebuilds its records from JSON or the database,
where equal strings are shared differently). The bytes are only hashed, never loaded.
"""

from __future__ import annotations

import marshal

#: marshal's format 2 writes every object in full (format 3 added references to shared ones)
_FORMAT = 2


def canonical_bytes(value: object) -> bytes:
    """``value`` (nested tuples, lists, dicts of str, int, float, bool, None) as bytes.

    Equal values of equal types give equal bytes; ``1`` and ``1.0`` differ, as in ``repr``.
    Anything else (an enum, a record) is refused with ValueError rather than hashed loosely.

    >>> canonical_bytes((1, "a")) == canonical_bytes((1, "".join(["a"])))
    True
    >>> canonical_bytes(1) == canonical_bytes(1.0)
    False
    """
    return marshal.dumps(value, _FORMAT)  # type: ignore[arg-type]  # refused at run time
