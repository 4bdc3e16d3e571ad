"""Canonical bytes of plain values, for the run digests (ledger, event log).

Pickle (protocol 5) with the memo off: floats go in as their 8 bytes instead of a decimal
``repr`` (several times cheaper on a replay's thousands of records), and the bytes depend only
on the values and their types, never on which objects happen to be shared (a resumed run
rebuilds its records from JSON or the database, where equal strings are shared differently).
"""

from __future__ import annotations

import io
import pickle


def canonical_bytes(value: object) -> bytes:
    """``value`` (nested tuples, lists, dicts of str, int, float, bool, None) as bytes.

    Equal values of equal types give equal bytes; ``1`` and ``1.0`` differ, as in ``repr``.

    >>> canonical_bytes((1, "a")) == canonical_bytes((1, "".join(["a"])))
    True
    >>> canonical_bytes(1) == canonical_bytes(1.0)
    False
    """
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True  # no memo: shared objects are written again, not referenced
    pickler.dump(value)
    return out.getvalue()
