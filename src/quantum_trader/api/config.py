"""The API's frozen configuration, built by the composition root from the settings (this
package never reads settings itself: the ``settings`` contract of ``.importlinter``). The
settings loader refuses well-known passwords and short secrets (config/api_settings.py);
``serve`` refuses to start without them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Where the server listens and whom it lets in. ``repr`` hides the password and secret."""

    username: str
    password: str = field(repr=False)
    secret: str = field(repr=False)  # the HS256 key of the access tokens
    host: str = "127.0.0.1"
    port: int = 8420
    token_minutes: int = 60
    login_attempts_per_minute: int = 5
    #: the live event stream (``GET /api/v1/events``): how often it looks for new events in
    #: the outbox, and how long it may stay silent before a keep-alive comment
    events_poll_s: float = 0.25
    events_ping_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.username or not self.password or not self.secret:
            raise ValueError("the API needs a username, a password and a secret")
        if self.token_minutes < 1 or self.login_attempts_per_minute < 1:
            raise ValueError("token_minutes and login_attempts_per_minute must be >= 1")
        if not 0 < self.events_poll_s <= 60 or not 0 < self.events_ping_s <= 3600:
            raise ValueError(
                f"events_poll_s={self.events_poll_s} must be in (0, 60] and "
                f"events_ping_s={self.events_ping_s} in (0, 3600]"
            )
