"""Evidence counters for the market-data module, kept even when no status registry is given."""

from __future__ import annotations

from quantum_trader.data.ports import EvidenceCounter


class Counters:
    """A plain counter dict that also forwards to an optional ``EvidenceCounter``.

    >>> c = Counters(); c.count("reads"); c.count("reads", 2); c.values
    {'reads': 3}
    """

    __slots__ = ("_forward", "values")

    def __init__(self, forward: EvidenceCounter | None = None) -> None:
        self.values: dict[str, int] = {}
        self._forward = forward

    def count(self, counter: str, n: int = 1) -> None:
        self.values[counter] = self.values.get(counter, 0) + n
        if self._forward is not None:
            self._forward.count(counter, n)
