"""A budget of requests per minute that a venue adapter keeps on top of ccxt's own limiter.

ccxt spaces requests by the exchange's weights; this bounds the total an account sends in any
60-second window (a sliding log of send times, so no window, aligned or not, holds more than
``per_minute``), and holds every request back while a rate-limit answer's ``Retry-After`` runs.
Time comes in as two callables (seconds), so tests run minutes of budget in no time.

>>> t = [0.0]
>>> budget = RequestBudget(2, lambda: t[0], lambda s: t.__setitem__(0, t[0] + s))
>>> budget.acquire(); budget.acquire(); budget.acquire()
>>> t[0]
60.0
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RequestBudget:
    def __init__(
        self,
        per_minute: int,
        now: Callable[[], float],
        sleep: Callable[[float], None],
        window_s: float = WINDOW_S,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"request budget {per_minute} per minute: must be at least 1")
        self.per_minute = per_minute
        self.window_s = window_s
        self._now = now
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self.sent = 0
        self.waited_s = 0.0

    def acquire(self) -> None:
        """Wait (through ``sleep``) until one more request fits, then count it as sent."""
        while True:
            wait = self.wait_s()
            if wait <= 0:
                break
            self.waited_s += wait
            self._sleep(wait)
        self._sent.append(self._now())
        self.sent += 1

    def wait_s(self) -> float:
        """Seconds until a request may be sent (0: now)."""
        now = self._now()
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self.per_minute:
            wait = max(wait, self._sent[0] + self.window_s - now)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (a 429/418 answer's ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self._now() + seconds)
