"""Faults a test injects into the exchange double, each a plain attribute set before (or while)
the venue talks to it. The server reads them under the book's lock, request by request.

- ``timeout_after_accept``: share of create-order requests the venue *accepts* (the order is in
  the book) and then never answers: ``timeout_mode="drop"`` closes the connection (the client
  sees a disconnect at once), ``"stall"`` holds the answer ``stall_s`` (past the client's
  timeout). Drawn from a seeded generator, so a test's run is the same every time.
- ``server_error_next`` / ``server_error_after_accept_next``: the next n requests (create-order
  only for the second) answer 503; the first before doing anything, the second after the order
  was booked; the body is plain text, or Binance's error JSON with ``server_error_code`` (e.g.
  -1007, "execution status unknown").
- ``rate_limit_next``: the next n requests answer ``rate_limit_status`` (429, or 418 for a ban)
  with ``Retry-After: retry_after_s``.
- ``reject_next``: the next n create-order requests are refused with ``reject_code``.
- ``disconnected`` (or :meth:`Faults.disconnect_for`): every request has its connection
  dropped, unanswered (an outage).
- ``drop_next``: ``"METHOD /path"`` → the next n requests to that endpoint have their
  connection dropped, unanswered (one look-up lost, the rest of the account answering).
- ``commission_fields``: fields of every ``/fapi/v1/commissionRate`` answer replaced by these
  values (a value of None leaves the field out): a payload that is not a rate.
- ``clock_skew_ms``: the venue's clock runs this far from the machine's (``/fapi/v1/time`` and
  the ``recvWindow`` check of signed requests).
- ``invalid_key``: every signed request refused with 401 and -2015 ("Invalid API-key, IP, or
  permissions for action."), as Binance answers a key it does not know.
- ``delay_fills`` / ``partial_ratio``: live on the :class:`~.book.Book` (matching rules).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Faults:
    seed: int = 0
    timeout_after_accept: float = 0.0
    timeout_mode: Literal["drop", "stall"] = "drop"
    stall_s: float = 1.0
    server_error_next: int = 0
    server_error_after_accept_next: int = 0
    server_error_code: int | None = None
    rate_limit_next: int = 0
    rate_limit_status: int = 429
    retry_after_s: int = 2
    reject_next: int = 0
    reject_code: int = -2019
    reject_msg: str = "Margin is insufficient."
    disconnected: bool = False
    disconnected_until: float = 0.0
    drop_next: dict[str, int] = field(default_factory=dict)
    clock_skew_ms: int = 0
    commission_fields: dict[str, object] = field(default_factory=dict)
    #: every signed request refused as Binance refuses a key it does not know (401, -2015)
    invalid_key: bool = False
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def disconnect_for(self, seconds: float) -> None:
        """An outage of ``seconds`` of the machine's monotonic clock, from now."""
        self.disconnected_until = time.monotonic() + seconds

    def is_disconnected(self) -> bool:
        return self.disconnected or time.monotonic() < self.disconnected_until

    def drops(self, request: str) -> bool:
        """Whether ``request`` (``"GET /fapi/v1/algoOrder"``) goes unanswered now
        (``drop_next``)."""
        fire, left = self.take(self.drop_next.get(request, 0))
        if fire:
            self.drop_next[request] = left
        return fire

    def draw_timeout(self) -> bool:
        return self.timeout_after_accept > 0 and self._rng.random() < self.timeout_after_accept

    def server_error(self) -> tuple[int, object, dict[str, str]]:
        if self.server_error_code is None:
            return 503, "Service Unavailable", {}
        msg = (
            "Timeout waiting for response from backend server. "
            "Send status unknown; execution status unknown."
        )
        return 503, {"code": self.server_error_code, "msg": msg}, {}

    @staticmethod
    def take(count: int) -> tuple[bool, int]:
        """(whether a counted fault fires now, the count left)."""
        return (True, count - 1) if count > 0 else (False, 0)
