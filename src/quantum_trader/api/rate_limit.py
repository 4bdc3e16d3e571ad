"""A sliding one-minute window of login attempts per client."""

from __future__ import annotations

from collections import deque

from quantum_trader.clock.clock import Clock

WINDOW_MS = 60_000


class LoginRateLimiter:
    """At most ``per_minute`` attempts per client in any 60 s; the next one is refused."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self._limit = per_minute
        self._clock = clock
        self._attempts: dict[str, deque[int]] = {}

    def allow(self, client: str) -> bool:
        """Record an attempt by ``client``; False when it is over the limit."""
        now = self._clock.now()
        window = self._attempts.setdefault(client, deque())
        while window and window[0] <= now - WINDOW_MS:
            window.popleft()
        if len(window) >= self._limit:
            return False
        window.append(now)
        return True
